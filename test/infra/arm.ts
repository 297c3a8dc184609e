/**
 * The infra tests' view of what Azure receives: the real Bicep CLI (scripts/bicep.ts, restored from
 * NuGet) compiles infra/ to ARM JSON, and `bicep snapshot` runs Azure's own template engine over it
 * with a set of parameter values, giving the resources a deployment would create (conditions
 * evaluated, loops expanded, modules flattened, parameters and variables substituted; values only
 * known at deployment time stay as ARM expressions such as `[reference(...)]`).
 *
 * Without a .NET SDK the tests that need the CLI are skipped with the reason; with CI=true they fail.
 * Compiled output is cached under out/bicep/<hash of infra/ and the parameters>, so the test files
 * that run in parallel compile each setting once.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ensureBicep } from '../../scripts/bicep';

/** The repository root (tests run compiled from dist/test/infra). */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'infra'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no repository root (a folder with package.json and infra/) above ${start}`);
    dir = parent;
  }
}

/** Where compiled output is cached (git-ignored). */
export const OUT_DIR = path.join(REPO_ROOT, 'out', 'bicep');

/** Subscription, tenant and resource group the snapshots are evaluated in (any fixed values do). */
export const SNAPSHOT_SCOPE = {
  tenantId: '00000000-0000-0000-0000-0000000000aa',
  subscriptionId: '00000000-0000-0000-0000-0000000000bb',
  resourceGroup: 'rg-mtc-test',
  location: 'westeurope',
};

/**
 * The Bicep CLI's path for a test, or undefined after skipping the test with the reason (no .NET
 * SDK). Under CI=true a missing CLI fails the test instead: CI must compile the templates.
 */
export function bicepFor(t: TestContext): string | undefined {
  const found = ensureBicep();
  if ('path' in found) return found.path;
  if (process.env.CI === 'true') throw new Error(`CI=true and the Bicep CLI is unavailable: ${found.unavailable}`);
  t.skip(`Bicep CLI unavailable: ${found.unavailable}`);
  return undefined;
}

export interface BicepRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function runBicep(exe: string, args: string[], env: NodeJS.ProcessEnv = process.env): BicepRun {
  const run = spawnSync(exe, args, { cwd: REPO_ROOT, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  if (run.error) throw run.error;
  return { status: run.status ?? 1, stdout: run.stdout, stderr: run.stderr };
}

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  level: 'Error' | 'Warning' | 'Info';
  code: string;
  message: string;
}

/** Parses the CLI's `path(line,col) : Level code: message` lines (paths made repository-relative). */
export function parseDiagnostics(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const line of text.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\) : (Error|Warning|Info) ([\w-]+): (.*)$/.exec(line.trim());
    if (!m) continue;
    out.push({
      file: path.relative(REPO_ROOT, m[1]!) || m[1]!,
      line: Number(m[2]),
      column: Number(m[3]),
      level: m[4] as Diagnostic['level'],
      code: m[5]!,
      message: m[6]!,
    });
  }
  return out;
}

export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  return diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.level} ${d.code}: ${d.message}`).join('\n');
}

/** Every file under infra/ with one of the extensions, as repository-relative paths. */
export function infraFiles(...extensions: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (extensions.some((e) => entry.name.endsWith(e))) out.push(rel);
    }
  };
  walk('infra');
  return out.sort();
}

function infraHash(extra: string): string {
  const hash = crypto.createHash('sha256');
  hash.update(fs.readFileSync(path.join(REPO_ROOT, 'tools', 'bicep', 'bicep.csproj')));
  for (const file of infraFiles('')) {
    hash.update(file);
    hash.update(fs.readFileSync(path.join(REPO_ROOT, file)));
  }
  hash.update(extra);
  return hash.digest('hex').slice(0, 16);
}

/** Computes `produce(dir)` once per key: concurrent test processes share the result through a rename. */
function cached<T>(key: string, file: string, produce: (dir: string) => void): T {
  const dir = path.join(OUT_DIR, key);
  const target = path.join(dir, file);
  if (!fs.existsSync(target)) {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    fs.mkdirSync(tmp, { recursive: true });
    produce(tmp);
    try {
      fs.renameSync(tmp, dir);
    } catch {
      // Another process finished first: use its copy.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return JSON.parse(fs.readFileSync(target, 'utf8')) as T;
}

export interface ArmTemplate {
  $schema: string;
  parameters?: Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[]; minValue?: number; maxValue?: number; metadata?: { description?: string } }>;
  resources: unknown;
  outputs?: Record<string, { type: string; value: unknown }>;
  [key: string]: unknown;
}

/** `bicep build` of one file, as the ARM JSON template it compiles to. */
export function buildTemplate(exe: string, rel: string): ArmTemplate {
  return cached<ArmTemplate>(`build-${infraHash(rel)}`, 'template.json', (dir) => {
    const run = runBicep(exe, ['build', rel, '--outfile', path.join(dir, 'template.json')]);
    const errors = parseDiagnostics(run.stderr).filter((d) => d.level === 'Error');
    if (run.status !== 0 || errors.length) throw new Error(`bicep build ${rel} failed (exit ${run.status}):\n${run.stderr}`);
  });
}

/** A resource as the template engine predicts it. */
export interface ArmResource {
  id: string;
  type: string;
  name: string;
  apiVersion: string;
  location?: string;
  kind?: string;
  sku?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Snapshot {
  predictedResources: ArmResource[];
  diagnostics: unknown[];
  outputs?: Record<string, unknown>;
}

/** A JSON value as a Bicep literal (for generated .bicepparam files). */
export function bicepLiteral(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\$\{/g, '\\${').replace(/\n/g, '\\n')}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(bicepLiteral).join(', ')}]`;
  if (typeof value === 'object') return `{ ${Object.entries(value).map(([k, v]) => `'${k}': ${bicepLiteral(v)}`).join(', ')} }`;
  throw new Error(`no Bicep literal for ${typeof value}`);
}

/**
 * The resources a deployment of infra/main.bicep with these parameter values would create, from
 * `bicep snapshot` (Azure's template engine, run offline in SNAPSHOT_SCOPE).
 */
export function snapshot(exe: string, params: Record<string, unknown>): Snapshot {
  const paramText = JSON.stringify(params);
  return cached<Snapshot>(`snapshot-${infraHash(paramText)}`, 'main.snapshot.json', (dir) => {
    const using = path.relative(dir, path.join(REPO_ROOT, 'infra', 'main.bicep')).split(path.sep).join('/');
    const lines = [`using '${using}'`, ...Object.entries(params).map(([k, v]) => `param ${k} = ${bicepLiteral(v)}`)];
    // The cache directory is renamed after the snapshot, so the using path must hold from both.
    fs.writeFileSync(path.join(dir, 'main.bicepparam'), `${lines.join('\n')}\n`);
    const run = runBicep(exe, [
      'snapshot', path.join(dir, 'main.bicepparam'), '--mode', 'overwrite',
      '--tenant-id', SNAPSHOT_SCOPE.tenantId, '--subscription-id', SNAPSHOT_SCOPE.subscriptionId,
      '--resource-group', SNAPSHOT_SCOPE.resourceGroup, '--location', SNAPSHOT_SCOPE.location,
    ]);
    if (run.status !== 0 || !fs.existsSync(path.join(dir, 'main.snapshot.json'))) {
      throw new Error(`bicep snapshot with ${paramText} failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
    }
  });
}

/**
 * Every declaration of one type in deployment order, a resource declared twice included (the
 * workspace: modules/workspace-link.bicep declares it again to link its transformation rule).
 */
export function declarations(snap: Snapshot, type: string): ArmResource[] {
  return snap.predictedResources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
}

/**
 * Resources of one type (`Microsoft.Storage/storageAccounts`), case-insensitively as ARM compares
 * types; a resource declared more than once appears once, as its last declaration (a PUT replaces
 * the resource, so the last one is what Azure keeps; `declarations` has them all).
 */
export function ofType(snap: Snapshot, type: string): ArmResource[] {
  const last = new Map<string, ArmResource>();
  for (const r of declarations(snap, type)) {
    last.delete(r.id.toLowerCase());
    last.set(r.id.toLowerCase(), r);
  }
  return [...last.values()];
}

/** Ids declared more than once, with how many times. */
export function redeclared(snap: Snapshot): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of snap.predictedResources) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  return new Map([...counts].filter(([, n]) => n > 1));
}

/** The only resource of a type; fails naming the type when there are none or several. */
export function single(snap: Snapshot, type: string): ArmResource {
  const found = ofType(snap, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}: ${found.map((r) => r.name).join(', ')}`);
  return found[0]!;
}

/**
 * The scope of an extension resource (role assignment, diagnostic setting): the resource id its
 * `[extensionResourceId('<scope>', ...)]` id names. Undefined for an id without a scope prefix
 * (a resource-group level extension resource).
 */
export function scopeOf(resource: ArmResource): string | undefined {
  const expr = /^\[extensionResourceId\('([^']+)'/.exec(resource.id);
  if (expr) return expr[1];
  const plain = /^(\/subscriptions\/.+)\/providers\/Microsoft\.(Authorization|Insights)\/[^/]+\/[^/]+$/i.exec(resource.id);
  if (plain && /\/providers\/.+\/providers\//i.test(resource.id)) return plain[1];
  return undefined;
}

/** A dotted path (`properties.networkAcls.defaultAction`) inside a resource. */
export function at(value: unknown, dotted: string): unknown {
  let current: unknown = value;
  for (const part of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
