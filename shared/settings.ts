/**
 * Every app setting (environment variable) the collector reads, declared once. The Bicep tests
 * check that infra/ sets each required one, and the table of docs/configuration.md is generated from
 * this list (shared/reference-docs.ts; descriptions are Markdown).
 *
 * The settings the runtime itself uses are declared with a parser (`RUNTIME_SETTINGS`):
 * `readSettings(env)` turns them into typed values (`RuntimeSettings`) and rejects a bad one with a
 * `SettingError` naming the setting and the fix. Nothing else reads them from the environment.
 */
export interface AppSetting {
  name: string;
  /** Required in Azure (the Bicep must set it). Locally, `npm start` provides defaults. */
  requiredInAzure: boolean;
  description: string;
}


/** A parser of one setting's text: the value, or undefined when the text is not valid. */
interface SettingParser<T> {
  /** What a valid value looks like, for the error ("a whole number from 1 to 3600"). */
  expected: string;
  /** A valid example, for the fix. */
  example: string;
  read(raw: string): T | undefined;
}

/** An app setting the runtime reads, with its parser and its default (undefined: the component's own default). */
export interface TypedSetting<T, D extends T | undefined = T | undefined> extends AppSetting {
  parser: SettingParser<T>;
  default: D;
}

/** A bad app setting: names the setting, the value's problem and the fix. */
export class SettingError extends Error {
  constructor(readonly setting: string, message: string) {
    super(message);
    this.name = 'SettingError';
  }
}

function wholeNumber(min: number, max: number): SettingParser<number> {
  return {
    expected: `a whole number from ${min} to ${max}`, example: String(Math.min(max, Math.max(min, 60))),
    read: (raw) => (/^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max ? Number(raw) : undefined),
  };
}

function share(min: number, max: number): SettingParser<number> {
  return {
    expected: `a number from ${min} to ${max}`, example: '0.1',
    read: (raw) => (/^\d+(\.\d+)?$/.test(raw) && Number(raw) >= min && Number(raw) <= max ? Number(raw) : undefined),
  };
}

function pattern(re: RegExp, expected: string, example: string): SettingParser<string> {
  return { expected, example, read: (raw) => (re.test(raw) ? raw : undefined) };
}

function typed<T, D extends T | undefined>(s: TypedSetting<T, D>): TypedSetting<T, D> {
  return s;
}

/** The settings the runtime reads, with their types and defaults (docs/configuration.md lists them with the rest). */
export const RUNTIME_SETTINGS = {
  pageQueue: typed({
    name: 'MTC_PAGE_QUEUE', requiredInAzure: true, default: 'page-jobs',
    description: 'Name of the page-job queue (`page-jobs`). Its poison queue is `<name>-poison`. The queue trigger binds to it as `%MTC_PAGE_QUEUE%`.',
    // Azure queue names: 3-63 lowercase letters, digits and single hyphens; `-poison-poison` is appended to it.
    parser: pattern(/^(?=.{3,49}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/, '3 to 49 lowercase letters, digits and single hyphens, starting and ending with a letter or digit', 'page-jobs'),
  }),
  tablePrefix: typed({
    name: 'MTC_TABLE_PREFIX', requiredInAzure: false, default: 'mtc',
    description: 'Prefix of the state tables (default `mtc`).',
    // Azure table names: letters and digits, starting with a letter, at most 63 (the longest suffix is `cursors`).
    parser: pattern(/^[A-Za-z][A-Za-z0-9]{0,55}$/, 'letters and digits, starting with a letter, at most 56 characters', 'mtc'),
  }),
  budgetLimit: typed({
    name: 'MTC_BUDGET_LIMIT', requiredInAzure: false, default: undefined,
    description: 'Message trace requests allowed per tenant per window (default 100, the Graph limit).',
    parser: wholeNumber(1, 10_000),
  }),
  budgetWindowSeconds: typed({
    name: 'MTC_BUDGET_WINDOW_SECONDS', requiredInAzure: false, default: undefined,
    description: 'The rolling window of that limit in seconds (default 300).',
    parser: wholeNumber(1, 86_400),
  }),
  budgetHeadroom: typed({
    name: 'MTC_BUDGET_HEADROOM', requiredInAzure: false, default: undefined,
    description: 'Share of the limit left for admins and other tools, from 0 to below 1 (default 0.1: the collector uses at most 90 of 100).',
    parser: share(0, 0.99),
  }),
  detailReserve: typed({
    name: 'MTC_BUDGET_DETAIL_RESERVE', requiredInAzure: false, default: undefined,
    description: 'Detail enrichment: free requests a detail request must leave in the tenant\'s rolling window, at least (default 10 of the 90 the collector uses). Detail requests only use what live collection, backfill and settle leave.',
    parser: wholeNumber(0, 10_000),
  }),
  detailReserveFactor: typed({
    name: 'MTC_BUDGET_DETAIL_RESERVE_FACTOR', requiredInAzure: false, default: undefined,
    description: 'Detail enrichment: a detail request also leaves this many times the live, backfill and re-read requests of the window free (default 1: room for those to double before they meet a detail request).',
    parser: share(0, 10),
  }),
  claimTtlSeconds: typed({
    name: 'MTC_CLAIM_TTL_SECONDS', requiredInAzure: false, default: 60,
    description: 'How long a page claim lives without renewal (default 60); its holder renews it every third of that while it works, and a dead holder\'s page is taken over after it.',
    parser: wholeNumber(1, 3_600),
  }),
  outboxStaleSeconds: typed({
    name: 'MTC_OUTBOX_STALE_SECONDS', requiredInAzure: false, default: 120,
    description: 'Age after which a planner relays the outbox of a planner that died mid-run (default 120).',
    parser: wholeNumber(1, 86_400),
  }),
  pageBatchMax: typed({
    name: 'MTC_PAGE_BATCH_MAX', requiredInAzure: false, default: 8,
    description: 'Most first page jobs of small live slices (under a tenth of a page expected, from the source\'s measured density) that one timer run puts in one queue message, a page batch (default 8, at most 32; 1 sends every job alone). One execution then runs them all at once, each with its own claim: quiet tenants cost one execution, receive and delete for several. A host older than this setting cannot read a batch: it records it as unattributed poison, and the recovery sweep re-enqueues its slices as single jobs after 30 minutes, so set it to 1 while old and new versions run side by side.',
    parser: wholeNumber(1, 32),
  }),
  planConcurrency: typed({
    name: 'MTC_PLAN_CONCURRENCY', requiredInAzure: false, default: 32,
    description: 'Sources one planner timer run plans at once (default 32, 1 to 128). A run plans every source; most of its time is storage round trips, so more at once makes the run shorter (see docs/cost.md for 1000 sources), and small slices planned at once share page batches (`MTC_PAGE_BATCH_MAX`). The planner makes no API request (preflights are their own budgeted step).',
    parser: wholeNumber(1, 128),
  }),
  traceSampling: typed({
    name: 'MTC_TRACE_SAMPLING', requiredInAzure: false, default: 0.25,
    description: 'The share of traces Application Insights keeps (0 to 1, default 0.25: one in four): each trace is a timer run\'s `mtc.plan` span with its page jobs\' `mtc.page` spans and their API and destination dependencies, kept or dropped whole (the decision follows the trace id, so it holds across the queue hop). Application Insights scales the counts of what it kept (`itemCount`), so request and dependency counts stay right. Metrics, custom events (health changes, parked slices) and log lines are never sampled: every failure is counted in `mtc.errors` and logged whatever this says. 1 keeps every trace (about twice the telemetry of a quiet tenant; see docs/cost.md); 0 keeps none. Read at start-up.',
    parser: share(0, 1),
  }),
  localLockSeconds: typed({
    name: 'MTC_LOCAL_LOCK_SECONDS', requiredInAzure: false, default: undefined,
    description: 'Local host only (`mtc start`, the tests): how long a received page job stays locked, in real seconds (default: from the clock speed, 30 to 600). The crash tests shorten it so a killed host\'s messages come back sooner. Azure ignores it.',
    parser: wholeNumber(1, 600),
  }),
} as const;

type SettingValue<S> = S extends TypedSetting<infer T, infer D> ? T | D : never;

/** The runtime's settings, typed: each key of RUNTIME_SETTINGS with its parsed value or default. */
export type RuntimeSettings = { readonly [K in keyof typeof RUNTIME_SETTINGS]: SettingValue<(typeof RUNTIME_SETTINGS)[K]> };

/**
 * Reads and checks the runtime's settings from `env`. An unset or empty setting takes its
 * default; a set one that is not valid throws a SettingError naming it and the fix.
 */
export function readSettings(env: NodeJS.ProcessEnv): RuntimeSettings {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(RUNTIME_SETTINGS) as [string, TypedSetting<unknown>][]) {
    const raw = env[s.name]?.trim();
    if (!raw) {
      out[key] = s.default;
      continue;
    }
    const value = s.parser.read(raw);
    if (value === undefined) {
      const shown = raw.length > 60 ? `${raw.slice(0, 60)}…` : raw;
      const fallback = s.default === undefined ? 'its built-in default' : `the default ${String(s.default)}`;
      throw new SettingError(s.name, `App setting ${s.name} is "${shown}", but it must be ${s.parser.expected}. Fix: set ${s.name} to a valid value (for example ${s.parser.example}), or remove it to use ${fallback}.`);
    }
    out[key] = value;
  }
  return out as RuntimeSettings;
}

/** The declaration part of a typed setting (for the docs table and the Bicep check). */
function declared({ name, requiredInAzure, description }: AppSetting): AppSetting {
  return { name, requiredInAzure, description };
}

export const APP_SETTINGS: readonly AppSetting[] = [
  { name: 'MTC_CONFIG', requiredInAzure: false, description: 'The configuration document as JSON text. One of `MTC_CONFIG` or `MTC_CONFIG_PATH` must be set.' },
  { name: 'MTC_CONFIG_PATH', requiredInAzure: false, description: 'Path of a file holding the configuration document.' },
  { name: 'MTC_PLAN_SCHEDULE', requiredInAzure: true, description: 'NCRONTAB schedule of the planner timer (default every minute: `0 */1 * * * *`).' },
  declared(RUNTIME_SETTINGS.pageQueue),
  declared(RUNTIME_SETTINGS.tablePrefix),
  declared(RUNTIME_SETTINGS.budgetLimit),
  declared(RUNTIME_SETTINGS.budgetWindowSeconds),
  declared(RUNTIME_SETTINGS.budgetHeadroom),
  declared(RUNTIME_SETTINGS.detailReserve),
  declared(RUNTIME_SETTINGS.detailReserveFactor),
  declared(RUNTIME_SETTINGS.claimTtlSeconds),
  declared(RUNTIME_SETTINGS.outboxStaleSeconds),
  declared(RUNTIME_SETTINGS.pageBatchMax),
  declared(RUNTIME_SETTINGS.planConcurrency),
  declared(RUNTIME_SETTINGS.traceSampling),
  declared(RUNTIME_SETTINGS.localLockSeconds),
  { name: 'JobsStorage', requiredInAzure: false, description: 'Connection string of the storage account for queues and tables (local and Azurite). In Azure use the identity-based `JobsStorage__*` settings instead.' },
  { name: 'JobsStorage__queueServiceUri', requiredInAzure: true, description: 'Queue endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__tableServiceUri', requiredInAzure: true, description: 'Table endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__blobServiceUri', requiredInAzure: true, description: 'Blob endpoint of the jobs storage account (identity-based connection).' },
  { name: 'JobsStorage__credential', requiredInAzure: true, description: '`managedidentity`: the connection uses the app identity.' },
  { name: 'JobsStorage__clientId', requiredInAzure: true, description: 'Client id of the user-assigned managed identity used for the jobs storage.' },
  { name: 'AZURE_CLIENT_ID', requiredInAzure: true, description: 'Client id of the user-assigned managed identity, used by `DefaultAzureCredential` (Key Vault, storage).' },
  { name: 'AZURE_TOKEN_CREDENTIALS', requiredInAzure: true, description: '`ManagedIdentityCredential`: `DefaultAzureCredential` goes straight to the managed identity in Azure.' },
  { name: 'KEY_VAULT_URI', requiredInAzure: true, description: 'Default Key Vault for secret references written as `kv:<name>`, e.g. `https://mtc-kv.vault.azure.net`.' },
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', requiredInAzure: true, description: 'Application Insights connection string.' },
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', requiredInAzure: true, description: '`ClientId=<uami client id>;Authorization=AAD`, for Entra-only ingestion.' },
];
