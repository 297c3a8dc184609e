/**
 * The Graph `$filter` dialect of messageTraces (reference B.3), including the observed quirks:
 * only the last value per property is honoured, `or` is ignored (all clauses are ANDed),
 * address matching is case-insensitive, and `*@domain` matches a domain.
 */
import { parseInstant, type Instant } from './instant';

export type EqProperty = 'id' | 'messageId' | 'senderAddress' | 'recipientAddress' | 'status' | 'fromIP' | 'toIP';
const EQ_PROPERTIES: readonly EqProperty[] = ['id', 'messageId', 'senderAddress', 'recipientAddress', 'status', 'fromIP', 'toIP'];

export interface GraphFilter {
  start?: Instant;
  end?: Instant;
  eq: Partial<Record<EqProperty, string>>;
  subject?: { fn: 'contains' | 'startswith' | 'endswith'; value: string };
}

export class FilterError extends Error {}

type Token = { kind: 'word' | 'string' | '(' | ')' | ','; text: string };

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')' || c === ',') { out.push({ kind: c, text: c }); i++; continue; }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= input.length) throw new FilterError('Invalid filter clause: a quoted string is not closed. Close it with a single quote and write a quote inside it as two quotes.');
        if (input[i] === "'") {
          if (input[i + 1] === "'") { s += "'"; i += 2; continue; }
          i++;
          break;
        }
        s += input[i];
        i++;
      }
      out.push({ kind: 'string', text: s });
      continue;
    }
    let w = '';
    while (i < input.length && !/[\s(),']/.test(input[i]!)) w += input[i++];
    out.push({ kind: 'word', text: w });
  }
  return out;
}

const SUBJECT_FUNCTIONS = new Set(['contains', 'startswith', 'endswith']);

export function parseGraphFilter(text: string): GraphFilter {
  // A '+hh:mm' offset sent unencoded in the query string arrives as a space; put the '+' back.
  const tokens = lex(text.replace(/(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})(?=[\s)]|$)/g, '$1+$2'));
  const filter: GraphFilter = { eq: {} };
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const expectClause = () => {
    while (peek()?.kind === '(' ) i++;
    const t = next();
    if (!t || t.kind !== 'word') throw new FilterError(`Invalid filter clause near '${t?.text ?? 'end of filter'}': expected a property such as receivedDateTime.`);
    const name = t.text.toLowerCase();
    if (SUBJECT_FUNCTIONS.has(name) && peek()?.kind === '(') {
      i++;
      const prop = next();
      if (prop?.kind !== 'word' || prop.text.toLowerCase() !== 'subject') {
        throw new FilterError(`Invalid filter clause: ${t.text}() is supported only on subject.`);
      }
      if (next()?.kind !== ',') throw new FilterError(`Invalid filter clause: ${t.text}(subject, '<text>') expects a comma.`);
      const value = next();
      if (value?.kind !== 'string') throw new FilterError(`Invalid filter clause: ${t.text}(subject, '<text>') expects a quoted string.`);
      if (next()?.kind !== ')') throw new FilterError(`Invalid filter clause: ${t.text}(...) is not closed.`);
      filter.subject = { fn: name as 'contains' | 'startswith' | 'endswith', value: value.text };
    } else {
      const op = next();
      if (op?.kind !== 'word') throw new FilterError(`Invalid filter clause near '${t.text}': expected an operator (eq, ge or le).`);
      const value = next();
      if (!value || (value.kind !== 'word' && value.kind !== 'string')) throw new FilterError(`Invalid filter clause: '${t.text} ${op.text}' has no value.`);
      const opName = op.text.toLowerCase();
      if (name === 'receiveddatetime') {
        if (opName !== 'ge' && opName !== 'le') throw new FilterError(`The operator '${op.text}' is not supported on receivedDateTime. Use 'ge' and 'le'.`);
        const instant = parseInstant(value.text);
        if (!instant) throw new FilterError(`Invalid receivedDateTime value '${value.text}'. Use an ISO 8601 UTC literal such as 2026-01-31T00:00:00Z.`);
        if (opName === 'ge') filter.start = instant;
        else filter.end = instant;
      } else {
        const prop = EQ_PROPERTIES.find((p) => p.toLowerCase() === name);
        if (!prop) {
          if (name === 'subject') throw new FilterError("The operator 'eq' is not supported on subject. Use contains, startsWith or endsWith.");
          throw new FilterError(`Could not find a property named '${t.text}' on type 'microsoft.graph.exchangeMessageTrace'.`);
        }
        if (opName !== 'eq') throw new FilterError(`The operator '${op.text}' is not supported on ${prop}. Use 'eq'.`);
        filter.eq[prop] = value.text; // quirk: the last value per property wins
      }
    }
    while (peek()?.kind === ')') i++;
  };
  if (tokens.length === 0) return filter;
  expectClause();
  while (i < tokens.length) {
    const conj = next()!;
    const word = conj.kind === 'word' ? conj.text.toLowerCase() : '';
    if (word !== 'and' && word !== 'or') throw new FilterError(`Invalid filter clause near '${conj.text}': expected 'and'.`);
    expectClause(); // quirk: 'or' is treated as 'and'
  }
  return filter;
}

export function addressMatches(pattern: string, address: string): boolean {
  const p = pattern.toLowerCase();
  const a = address.toLowerCase();
  if (p.startsWith('*')) return a.endsWith(p.slice(1));
  return p === a;
}

export function subjectMatches(test: NonNullable<GraphFilter['subject']>, subject: string): boolean {
  const s = subject.toLowerCase();
  const v = test.value.toLowerCase();
  if (test.fn === 'contains') return s.includes(v);
  if (test.fn === 'startswith') return s.startsWith(v);
  return s.endsWith(v);
}
