/**
 * Turns the user's configuration document (JSON; syntax in docs/configuration.md) into the
 * validated CollectorConfig, or a ConfigError that lists every problem with its JSON path and fix.
 */
import { readFileSync } from 'node:fs';
import { ID_PATTERN } from '../config-common/fields';
import { ConfigError, formatPath, IssueCollector, isPlainObject } from '../config-common/issues';
import type { AuthConfigBase, AuthMethodKind, DestinationConfigBase, DestinationKind } from '../config-common/kinds';
import { checkUnknownFields } from '../config-common/unknown-fields';
import { parseDestination } from './destination';
import { findJsonSyntaxProblem } from './json-syntax';
import { parseSource } from './source';
import type { CollectorConfigOf, SourceConfigOf } from './types';

export { ConfigError } from '../config-common/issues';

export const ROOT_FIELDS = ['$schema', 'sources', 'destinations'];

export interface ParseConfigOptions {
  /** App settings used while checking (KEY_VAULT_URI for kv:<name>, env:NAME presence). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The components the loader parses with (shared/components.ts passes the registries). */
export interface ConfigComponents<A extends AuthConfigBase, D extends DestinationConfigBase> {
  authMethods: readonly AuthMethodKind<A>[];
  destinations: readonly DestinationKind<D>[];
}

export interface ParsedConfig<A extends AuthConfigBase = AuthConfigBase, D extends DestinationConfigBase = DestinationConfigBase> {
  config: CollectorConfigOf<A, D>;
  /** Things that work but are probably not what was meant, as `<path>: <message>`. */
  warnings: string[];
}

/** Quotes an id only when it is a well-formed id (so arbitrary input never reaches a message). */
function idText(v: unknown): string | undefined {
  return typeof v === 'string' && ID_PATTERN.test(v) ? `"${v}"` : undefined;
}

export interface LoadedConfig<A extends AuthConfigBase = AuthConfigBase, D extends DestinationConfigBase = DestinationConfigBase> extends ParsedConfig<A, D> {
  /** Where the document came from, for logs: `MTC_CONFIG` or `MTC_CONFIG_PATH (<file>)`. */
  origin: string;
}

export interface ConfigLoader<A extends AuthConfigBase, D extends DestinationConfigBase> {
  /**
   * Checks and normalises a configuration document. Collects every problem before throwing
   * ConfigError (message: one `<path>: <message>` line per issue). Never echoes a secret.
   */
  parseConfig(doc: unknown, opts?: ParseConfigOptions): ParsedConfig<A, D>;
  /**
   * Reads the configuration from MTC_CONFIG (the JSON text) or MTC_CONFIG_PATH (a file holding it);
   * exactly one must be set. Invalid JSON is reported with line and column, never with the text.
   */
  loadConfigFromEnvironment(env: NodeJS.ProcessEnv, opts?: { readFile?: (p: string) => string }): LoadedConfig<A, D>;
  /**
   * Reads the configuration file a command line names with `--config <file>`: its errors are
   * labelled with the option and the file, not with MTC_CONFIG_PATH.
   */
  loadConfigFile(file: string, env: NodeJS.ProcessEnv, opts?: { readFile?: (p: string) => string; label?: string }): LoadedConfig<A, D>;
}

/** The loader over the given components (one per process, built in shared/components.ts). */
export function createConfigLoader<A extends AuthConfigBase, D extends DestinationConfigBase>(components: ConfigComponents<A, D>): ConfigLoader<A, D> {
  const parse = (doc: unknown, opts: ParseConfigOptions = {}) => parseConfig(components, doc, opts);
  return {
    parseConfig: parse,
    loadConfigFromEnvironment(env, opts = {}) {
      const inline = env.MTC_CONFIG?.trim() ? env.MTC_CONFIG : undefined;
      const file = env.MTC_CONFIG_PATH?.trim() ? env.MTC_CONFIG_PATH.trim() : undefined;
      return loadConfigDocument(parse, { inline, file, fileLabel: 'MTC_CONFIG_PATH' }, env, opts);
    },
    loadConfigFile(file, env, opts = {}) {
      return loadConfigDocument(parse, { file, fileLabel: opts.label ?? '--config' }, env, opts);
    },
  };
}

function parseConfig<A extends AuthConfigBase, D extends DestinationConfigBase>(components: ConfigComponents<A, D>, doc: unknown, opts: ParseConfigOptions): ParsedConfig<A, D> {
  const env = opts.env ?? process.env;
  const keyVaultUri = env.KEY_VAULT_URI;
  const out = new IssueCollector();
  if (!isPlainObject(doc)) {
    throw new ConfigError([{ path: formatPath([]), message: 'the configuration must be a JSON object like {"sources": [ … ], "destinations": [ … ]}' }]);
  }
  checkUnknownFields(doc, ROOT_FIELDS, [], out, { aliases: { source: 'sources', destination: 'destinations', sinks: 'destinations', outputs: 'destinations', inputs: 'sources', tenants: 'sources' } });

  const rawSources = listAt(doc, 'sources', 'a list of sources, e.g. [{"id": "contoso", "tenantId": "…", "auth": {…}, "destinations": ["siem"]}]', out);
  const rawDestinations = listAt(doc, 'destinations', 'a list of destinations, e.g. [{"id": "siem", "type": "http", "url": "https://siem.example.com/ingest"}]', out);

  const destinationIds = rawDestinations.map((d) => (isPlainObject(d) ? d.id : undefined));
  const definedIds = [...new Set(destinationIds.filter((id): id is string => idText(id) !== undefined))];
  const used = new Set<string>();

  const sources: SourceConfigOf<A>[] = [];
  const sourceIdAt = new Map<string, number>();
  rawSources.forEach((raw, i) => {
    const path = ['sources', i];
    const source = parseSource(raw, path, keyVaultUri, out, components.authMethods);
    if (!isPlainObject(raw)) return;
    const id = raw.id;
    if (idText(id)) {
      if (sourceIdAt.has(id as string)) out.add([...path, 'id'], `duplicate source id ${idText(id)} (also used by sources[${sourceIdAt.get(id as string)}]); every source needs its own id`);
      else sourceIdAt.set(id as string, i);
    }
    if (Array.isArray(raw.destinations)) {
      raw.destinations.forEach((ref, j) => {
        if (typeof ref !== 'string') return;
        used.add(ref);
        if (definedIds.includes(ref)) return;
        const defined = definedIds.length > 0 ? `the destinations defined are ${definedIds.map((d) => `"${d}"`).join(', ')}` : 'no destination is defined yet; add one under "destinations"';
        out.add([...path, 'destinations', j], `${idText(ref) ? `unknown destination ${idText(ref)}` : 'is not the id of a destination'}; ${defined}`);
      });
    }
    if (source) {
      sources.push(source);
      const method = components.authMethods.find((m) => m.method === source.auth.method);
      for (const [field, ref] of method?.secretRefs?.(source.auth) ?? []) warnAboutEnvSecret(ref, [...path, 'auth', field], env, out);
    }
  });

  const destinations: D[] = [];
  const destinationIdAt = new Map<string, number>();
  rawDestinations.forEach((raw, i) => {
    const path = ['destinations', i];
    const destination = parseDestination(raw, path, keyVaultUri, out, components.destinations);
    const id = destinationIds[i];
    if (idText(id)) {
      if (destinationIdAt.has(id as string)) out.add([...path, 'id'], `duplicate destination id ${idText(id)} (also used by destinations[${destinationIdAt.get(id as string)}]); every destination needs its own id`);
      else destinationIdAt.set(id as string, i);
      if (!used.has(id as string)) out.warn(path, `no source sends to destination ${idText(id)}; add it to a source's "destinations" or remove it`);
    }
    const rawRetry = raw && typeof raw === 'object' ? (raw as { retry?: unknown }).retry : undefined;
    if (rawRetry && typeof rawRetry === 'object' && 'horizon' in rawRetry) {
      out.warn([...path, 'retry', 'horizon'], 'a destination is no longer parked after a retry horizon: what it misses waits in its backlog until "backlog.maxAge" (default 7d), "backlog.maxPages" or "backlog.maxBytes" is passed; remove "horizon" or set "backlog.maxAge" instead');
    }
    if (destination) {
      destinations.push(destination);
      const kind = components.destinations.find((k) => k.type === destination.type);
      for (const [field, ref] of kind?.secretRefs?.(destination) ?? []) warnAboutEnvSecret(ref, [...path, ...field], env, out);
    }
  });

  // Mail direction belongs to the tenant: hand every destination the domains of each source that
  // sets them (not only of the sources feeding it: `npm run replay` may send any source's archived
  // events to any destination).
  const bySource = Object.fromEntries(sources.flatMap((s) => (s.acceptedDomains ? [[s.id, s.acceptedDomains] as const] : [])));
  if (Object.keys(bySource).length) for (const destination of destinations) destination.acceptedDomainsBySource = bySource;

  if (rawSources.length > 0 && rawSources.every((s) => isPlainObject(s) && s.enabled === false)) {
    out.warn(['sources'], 'every source is disabled ("enabled": false), so nothing will be collected');
  }

  if (out.issues.length > 0) throw new ConfigError(out.issues);
  return { config: { sources, destinations }, warnings: out.warnings };
}

function listAt(doc: Record<string, unknown>, key: 'sources' | 'destinations', example: string, out: IssueCollector): unknown[] {
  const v = doc[key];
  if (v === undefined) {
    out.add([key], `is required; it must be ${example}`);
    return [];
  }
  if (!Array.isArray(v)) {
    out.add([key], `must be ${example}; got ${isPlainObject(v) ? 'an object' : v === null ? 'null' : `a ${typeof v}`}`);
    return [];
  }
  if (v.length === 0) out.add([key], `must have at least one entry: ${example}`);
  return v;
}

function warnAboutEnvSecret(ref: { kind: string; name: string }, path: (string | number)[], env: NodeJS.ProcessEnv, out: IssueCollector): void {
  if (ref.kind !== 'env') return;
  const value = env[ref.name];
  if (value === undefined || value === '') {
    out.warn(path, `the environment variable ${ref.name} is not set; this will fail until the app setting ${ref.name} holds the secret`);
  } else if (value.trim().startsWith('@Microsoft.KeyVault(')) {
    out.warn(path, `the app setting ${ref.name} still holds an unresolved Key Vault reference; check the app's access to the vault (see the setting's Key Vault reference status in the portal)`);
  }
}

function loadConfigDocument<A extends AuthConfigBase, D extends DestinationConfigBase>(
  parseConfig: (doc: unknown, opts: ParseConfigOptions) => ParsedConfig<A, D>,
  where: { inline?: string; file?: string; fileLabel: string },
  env: NodeJS.ProcessEnv,
  opts: { readFile?: (p: string) => string },
): LoadedConfig<A, D> {
  const { inline, file, fileLabel } = where;
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError([{ path: 'MTC_CONFIG', message: 'both MTC_CONFIG and MTC_CONFIG_PATH are set; set only one: MTC_CONFIG to the configuration JSON, or MTC_CONFIG_PATH to a file holding it' }]);
  }
  if (inline === undefined && file === undefined) {
    throw new ConfigError([{ path: 'MTC_CONFIG', message: 'no configuration: set the app setting MTC_CONFIG to the configuration JSON, or MTC_CONFIG_PATH to a file holding it (see docs/configuration.md)' }]);
  }
  let text: string;
  let setting: string;
  let origin: string;
  if (file !== undefined) {
    setting = fileLabel;
    origin = `${fileLabel} (${file})`;
    try {
      text = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder, not a file' : `the read failed${code ? ` (${code})` : ''}`;
      throw new ConfigError([{ path: fileLabel, message: `cannot read the configuration file "${file}": ${why}; point ${fileLabel} at a readable JSON file` }]);
    }
  } else {
    setting = 'MTC_CONFIG';
    origin = 'MTC_CONFIG';
    text = inline!;
  }
  text = text.replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const problem = findJsonSyntaxProblem(text);
    const where = problem ? `line ${problem.line}, column ${problem.column}: ${problem.reason}` : 'it could not be parsed';
    throw new ConfigError([{ path: setting, message: `${file !== undefined ? `the file "${file}" ` : ''}is not valid JSON (${where})` }]);
  }
  if (fileLabel === 'MTC_CONFIG_PATH' || file === undefined) return { ...parseConfig(doc, { env }), origin };
  try {
    const parsed = parseConfig(doc, { env });
    return { ...parsed, warnings: parsed.warnings.map((w) => `${file}: ${w}`), origin };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.issues.map((i) => ({ ...i, path: `${file}: ${i.path}` })));
    throw err;
  }
}
