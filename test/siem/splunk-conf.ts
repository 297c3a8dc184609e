/**
 * Enough of Splunk's search-time processing to test a CIM mapping without Splunk: .conf files
 * (stanzas, `key = value`, `#` comments, `\` continuations), EXTRACT (inline extractions with named
 * groups, over _raw or `in <field>`; PCRE and JavaScript agree on the subset used), FIELDALIAS and EVAL of props.conf, the
 * eventtypes.conf searches and tags.conf. The eval and search languages are the subset the app uses
 * (string and number literals, fields, ==, !=, AND, OR, NOT, parentheses, and the functions case, if,
 * true, null, lower, upper, split, mvindex, coalesce, len); anything else is an error, so the app
 * cannot use a construct this test does not understand.
 */
export type Conf = Map<string, Map<string, string>>;
export type SplunkEvent = Record<string, unknown>;

export function parseConf(text: string): Conf {
  const conf: Conf = new Map();
  let stanza: Map<string, string> | undefined;
  const lines = text.replace(/\\\r?\n/g, '').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const head = /^\[(.*)\]$/.exec(line);
    if (head) {
      stanza = new Map();
      conf.set(head[1]!, stanza);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !stanza) throw new Error(`not a setting: ${line}`);
    stanza.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return conf;
}

type Token = { kind: 'str' | 'num' | 'name' | 'op'; value: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|([A-Za-z_][\w.:]*)|(==|!=|=|\(|\)|,))/y;
  let i = 0;
  while (i < src.length) {
    if (/^\s*$/.test(src.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m) throw new Error(`cannot read "${src.slice(i)}"`);
    i = re.lastIndex;
    if (m[1] !== undefined) out.push({ kind: 'str', value: m[1].replace(/\\(.)/g, '$1') });
    else if (m[2] !== undefined) out.push({ kind: 'num', value: m[2] });
    else if (m[3] !== undefined) out.push({ kind: ['AND', 'OR', 'NOT'].includes(m[3]) ? 'op' : 'name', value: m[3] });
    else out.push({ kind: 'op', value: m[4]! });
  }
  return out;
}

type Value = unknown;
const FUNCTIONS: Record<string, (args: (() => Value)[]) => Value> = {
  case: (a) => { for (let i = 0; i + 1 < a.length; i += 2) if (a[i]!() === true) return a[i + 1]!(); return null; },
  if: (a) => (a[0]!() === true ? a[1]!() : a[2]!()),
  true: () => true,
  null: () => null,
  lower: (a) => { const v = a[0]!(); return typeof v === 'string' ? v.toLowerCase() : null; },
  upper: (a) => { const v = a[0]!(); return typeof v === 'string' ? v.toUpperCase() : null; },
  split: (a) => { const v = a[0]!(); return typeof v === 'string' ? v.split(String(a[1]!())) : null; },
  mvindex: (a) => { const v = a[0]!(); const n = Number(a[1]!()); if (!Array.isArray(v)) return n === 0 || n === -1 ? v : null; return v.at(n) ?? null; },
  coalesce: (a) => { for (const f of a) { const v = f(); if (v !== null && v !== undefined) return v; } return null; },
  len: (a) => { const v = a[0]!(); return typeof v === 'string' ? v.length : null; },
};

/** Parses one eval expression (search = false) or a search (search = true: `field=value` terms, implicit AND). */
function compile(src: string, search: boolean): (e: SplunkEvent) => Value {
  const t = tokenize(src);
  let p = 0;
  const peek = () => t[p];
  const take = (value?: string) => {
    const tok = t[p++];
    if (!tok || (value !== undefined && tok.value !== value)) throw new Error(`expected ${value ?? 'a token'} in "${src}"`);
    return tok;
  };
  const field = (name: string) => (e: SplunkEvent) => (e[name] === undefined ? null : e[name]);
  function primary(): (e: SplunkEvent) => Value {
    const tok = take();
    if (tok.kind === 'str') return () => tok.value;
    if (tok.kind === 'num') return () => Number(tok.value);
    if (tok.value === '(') { const inner = or(); take(')'); return inner; }
    if (tok.value === 'NOT') { const inner = primary(); return (e) => inner(e) !== true; }
    if (tok.kind === 'name') {
      if (!search && peek()?.value === '(') {
        const fn = FUNCTIONS[tok.value];
        if (!fn) throw new Error(`function ${tok.value}() is not supported by this test`);
        take('(');
        const args: ((e: SplunkEvent) => Value)[] = [];
        while (peek()?.value !== ')') { args.push(or()); if (peek()?.value === ',') take(','); }
        take(')');
        return (e) => fn(args.map((a) => () => a(e)));
      }
      return field(tok.value);
    }
    throw new Error(`unexpected "${tok.value}" in "${src}"`);
  }
  function comparison(): (e: SplunkEvent) => Value {
    const left = primary();
    const op = peek();
    if (op && (op.value === '==' || op.value === '!=' || (search && op.value === '='))) {
      if (!search && op.value === '=') throw new Error(`use == in eval: "${src}"`);
      take();
      const right = primary();
      const eq = (e: SplunkEvent) => { const a = left(e), b = right(e); return a !== null && b !== null && String(a) === String(b); };
      return op.value === '!=' ? (e) => !eq(e) : eq;
    }
    return left;
  }
  function and(): (e: SplunkEvent) => Value {
    let left = comparison();
    for (;;) {
      const n = peek();
      if (n?.value === 'AND' || (search && n && n.value !== 'OR' && n.value !== ')' && n.value !== ',')) {
        if (n.value === 'AND') take();
        const l = left, r = comparison();
        left = (e) => l(e) === true && r(e) === true;
      } else return left;
    }
  }
  function or(): (e: SplunkEvent) => Value {
    let left = and();
    while (peek()?.value === 'OR') { take(); const l = left, r = and(); left = (e) => l(e) === true || r(e) === true; }
    return left;
  }
  const expr = or();
  if (p !== t.length) throw new Error(`unexpected "${t[p]!.value}" in "${src}"`);
  return expr;
}

export interface SplunkApp { props: Conf; eventtypes: Conf; tags: Conf }

/**
 * An event at search time, in Splunk's order: inline extractions (EXTRACT, over _raw: HEC keeps the
 * event's JSON text), the JSON fields (KV_MODE = json), then field aliases, then calculated fields
 * (each evaluated on the aliased event, as Splunk does), then eventtypes and their tags.
 */
export function searchTime(app: SplunkApp, sourcetype: string, json: SplunkEvent): SplunkEvent & { eventtype: string[]; tag: string[] } {
  const props = app.props.get(sourcetype);
  if (!props) throw new Error(`props.conf has no stanza [${sourcetype}]`);
  if (props.get('KV_MODE') !== 'json') throw new Error('KV_MODE must be json for JSON events');
  const raw = JSON.stringify(json);
  const extracted: SplunkEvent = {};
  for (const [key, value] of props) {
    if (!key.startsWith('EXTRACT-')) continue;
    const m = /^(.*?)(?: in (\w+))?$/.exec(value)!;
    const source = m[2] ? json[m[2]] : raw;
    if (typeof source !== 'string') continue;
    const found = new RegExp(m[1]!).exec(source);
    if (!m[1]!.includes('(?<')) throw new Error(`${key}: an extraction needs named groups`);
    for (const [name, v] of Object.entries(found?.groups ?? {})) if (v !== undefined) extracted[name] = v;
  }
  const e: SplunkEvent = { sourcetype, ...extracted, ...json };
  for (const [key, value] of props) {
    if (!key.startsWith('FIELDALIAS-')) continue;
    const parts = value.split(/\s+/);
    for (let i = 0; i < parts.length; i += 3) {
      if (parts[i + 1]?.toUpperCase() !== 'AS' || !parts[i + 2]) throw new Error(`${key}: expected "<field> AS <alias>" pairs`);
      if (e[parts[i]!] !== undefined) e[parts[i + 2]!] = e[parts[i]!];
    }
  }
  const evals: [string, unknown][] = [];
  for (const [key, value] of props) if (key.startsWith('EVAL-')) evals.push([key.slice(5), compile(value, false)(e)]);
  for (const [k, v] of evals) if (v !== null && v !== undefined) e[k] = v;
  const eventtype: string[] = [];
  const tag: string[] = [];
  for (const [name, st] of app.eventtypes) {
    if (compile(st.get('search') ?? '', true)(e) !== true) continue;
    eventtype.push(name);
    for (const [t, state] of app.tags.get(`eventtype=${name}`) ?? []) if (state === 'enabled') tag.push(t);
  }
  return { ...e, eventtype, tag };
}
