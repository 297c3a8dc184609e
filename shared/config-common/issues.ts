/**
 * Configuration problems: the ConfigError the loader throws, JSON path formatting, turning zod
 * issues into messages that name the fix, and "did you mean" suggestions for unknown fields.
 */
import type { z } from 'zod';
import type { ConfigIssue } from './types';

/** Every problem found in a configuration; the message has one `<path>: <message>` line per issue. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** `['sources', 0, 'auth', 'clientSecretRef']` → `sources[0].auth.clientSecretRef`. */
export function formatPath(path: Path): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Collects issues and warnings while a document is checked. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: string[] = [];
  add(path: Path, message: string): void {
    this.issues.push({ path: formatPath(path), message });
  }
  warn(path: Path, message: string): void {
    this.warnings.push(`${formatPath(path)}: ${message}`);
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "a string", "a number", "a list", "an object", "null", "true" … for "got …" in messages (never the value itself). */
export function describeKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' && !Number.isInteger(v)) return 'a fractional number';
  return typeof v === 'undefined' ? 'nothing' : `a ${typeof v}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/**
 * Adds zod issues for the value at `base` (whose raw input is `input`). Schemas in this folder carry
 * their own messages that start with "must …"; a missing value becomes "is required; it must …" and
 * a value of the wrong type gets "; got a string" (the kind, never the value).
 */
export function addZodIssues(out: IssueCollector, base: Path, input: unknown, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    const path = [...base, ...(issue.path as PathSegment[])];
    const value = valueAt(input, issue.path);
    let message = issue.message;
    if (issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'invalid_value' || issue.code === 'custom') {
      if (value === undefined && /^must\b/.test(message)) message = `is required; it ${message}`;
      else if (issue.code === 'invalid_type' && value !== undefined) message = `${message}; got ${describeKind(value)}`;
    } else if ((issue.code === 'too_big' || issue.code === 'too_small') && typeof value === 'number' && /^must\b/.test(message)) {
      message = `is ${value}; it ${message}`;
    }
    out.add(path, message);
  }
}

function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name` (case-insensitive, typos, known aliases), if one is close enough. */
export function closestName(name: string, known: readonly string[], aliases: Readonly<Record<string, string>> = {}): string | undefined {
  const lower = name.toLowerCase();
  const alias = Object.entries(aliases).find(([k]) => k.toLowerCase() === lower);
  if (alias && known.includes(alias[1])) return alias[1];
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    if (k.toLowerCase() === lower) return k;
    const score = editDistance(lower, k.toLowerCase());
    if (score < bestScore) {
      best = k;
      bestScore = score;
    }
  }
  const allowed = lower.length <= 4 ? 1 : lower.length <= 8 ? 2 : 3;
  return bestScore <= allowed ? best : undefined;
}
