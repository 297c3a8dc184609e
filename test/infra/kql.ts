/**
 * A KQL checker for the queries the project ships (alert rules, workbook tiles, the DCR transform,
 * infra/**\/*.kql files, kusto blocks in docs/): Microsoft's Kusto language service
 * (@kusto/language-service-next, the JavaScript build of Kusto.Language) parses and binds each query
 * against a declared schema, so a syntax error, an unknown table, column or function, or a wrong
 * argument type is reported with its line and column.
 *
 *   const checker = new KqlChecker({ tables: { customMetrics: APP_INSIGHTS_TABLES.customMetrics! }, functions: [...] });
 *   checker.check('customMetrics | where nam == "x"')   // -> [{ line: 1, column: 23, code: 'KS142', ... }]
 *
 * Function files: a .kql file whose first line is `// function: Name(a:string, b:datetime=datetime(null))`
 * is a stored function (a Log Analytics workspace function, e.g. an ASIM parser); parseKqlFile()
 * reads it and KqlChecker registers it as a database function, so queries that call it resolve,
 * and checkFunction() checks its body with its parameters in scope. Other files are queries.
 */
import '@kusto/language-service-next/bridge.js';
import '@kusto/language-service-next';

/** A column as Log Analytics declares it (`{ name, type }` with KQL scalar type names). */
export interface Column {
  name: string;
  type: string;
}
export type Columns = readonly Column[];

export interface KqlFunction {
  name: string;
  /** The parameter list without parentheses, KQL syntax: `a:string, b:datetime=datetime(null)`. */
  parameters: string;
  body: string;
  /** Where it came from, for messages. */
  file?: string;
  /** 1-based line of the body's first line in that file. */
  bodyLine?: number;
}

export interface KqlSchema {
  tables: Record<string, Columns>;
  functions?: readonly KqlFunction[];
}

export interface KqlProblem {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  code: string;
  severity: string;
  message: string;
}

/** Columns every Application Insights table has (classic, component-scoped names). */
const AI_COMMON: Columns = [
  ['timestamp', 'datetime'], ['itemType', 'string'], ['customDimensions', 'dynamic'], ['operation_Name', 'string'],
  ['operation_Id', 'string'], ['operation_ParentId', 'string'], ['operation_SyntheticSource', 'string'], ['session_Id', 'string'],
  ['user_Id', 'string'], ['user_AuthenticatedId', 'string'], ['user_AccountId', 'string'], ['application_Version', 'string'],
  ['client_Type', 'string'], ['client_Model', 'string'], ['client_OS', 'string'], ['client_IP', 'string'], ['client_City', 'string'],
  ['client_StateOrProvince', 'string'], ['client_CountryOrRegion', 'string'], ['client_Browser', 'string'], ['cloud_RoleName', 'string'],
  ['cloud_RoleInstance', 'string'], ['appId', 'string'], ['appName', 'string'], ['iKey', 'string'], ['sdkVersion', 'string'],
  ['itemId', 'string'], ['itemCount', 'int'],
].map(([name, type]) => ({ name: name!, type: type! }));

const cols = (...pairs: [string, string][]): Columns => [...AI_COMMON, ...pairs.map(([name, type]) => ({ name, type }))];

/**
 * The Application Insights tables the collector's telemetry lands in, as queried through the
 * component (alert rules and the workbook are scoped to it): the classic schema of
 * learn.microsoft.com/azure/azure-monitor/app/data-model-complete (customEvents, customMetrics,
 * traces, requests, exceptions, dependencies).
 */
export const APP_INSIGHTS_TABLES: Record<string, Columns> = {
  customEvents: cols(['name', 'string'], ['customMeasurements', 'dynamic']),
  customMetrics: cols(['name', 'string'], ['value', 'real'], ['valueCount', 'int'], ['valueSum', 'real'], ['valueMin', 'real'], ['valueMax', 'real'], ['valueStdDev', 'real']),
  traces: cols(['message', 'string'], ['severityLevel', 'int'], ['customMeasurements', 'dynamic']),
  requests: cols(['id', 'string'], ['source', 'string'], ['name', 'string'], ['url', 'string'], ['success', 'bool'], ['resultCode', 'string'], ['duration', 'real'], ['performanceBucket', 'string'], ['customMeasurements', 'dynamic']),
  exceptions: cols(['problemId', 'string'], ['handledAt', 'string'], ['type', 'string'], ['message', 'string'], ['assembly', 'string'], ['method', 'string'], ['outerType', 'string'], ['outerMessage', 'string'], ['outerAssembly', 'string'], ['outerMethod', 'string'], ['innermostType', 'string'], ['innermostMessage', 'string'], ['innermostAssembly', 'string'], ['innermostMethod', 'string'], ['severityLevel', 'int'], ['details', 'dynamic'], ['customMeasurements', 'dynamic']),
  dependencies: cols(['id', 'string'], ['target', 'string'], ['type', 'string'], ['name', 'string'], ['data', 'string'], ['success', 'bool'], ['resultCode', 'string'], ['duration', 'real'], ['performanceBucket', 'string'], ['customMeasurements', 'dynamic']),
};

/**
 * Microsoft Defender XDR tables that Microsoft Sentinel workspaces receive and the docs join with
 * (learn.microsoft.com/defender-xdr/advanced-hunting-emailevents-table; Timestamp and TimeGenerated
 * both exist in the Sentinel copy).
 */
export const DEFENDER_TABLES: Record<string, Columns> = {
  EmailEvents: [
    ['Timestamp', 'datetime'], ['TimeGenerated', 'datetime'], ['NetworkMessageId', 'string'], ['InternetMessageId', 'string'],
    ['SenderMailFromAddress', 'string'], ['SenderFromAddress', 'string'], ['SenderDisplayName', 'string'], ['SenderObjectId', 'string'],
    ['SenderMailFromDomain', 'string'], ['SenderFromDomain', 'string'], ['SenderIPv4', 'string'], ['SenderIPv6', 'string'],
    ['RecipientEmailAddress', 'string'], ['RecipientObjectId', 'string'], ['Subject', 'string'], ['EmailClusterId', 'long'],
    ['EmailDirection', 'string'], ['DeliveryAction', 'string'], ['DeliveryLocation', 'string'], ['LatestDeliveryAction', 'string'],
    ['LatestDeliveryLocation', 'string'], ['ThreatTypes', 'string'], ['ThreatNames', 'string'], ['DetectionMethods', 'string'],
    ['ConfidenceLevel', 'string'], ['BulkComplaintLevel', 'int'], ['EmailAction', 'string'], ['EmailActionPolicy', 'string'],
    ['EmailActionPolicyGuid', 'string'], ['AuthenticationDetails', 'string'], ['AttachmentCount', 'int'], ['UrlCount', 'int'],
    ['EmailLanguage', 'string'], ['Connectors', 'string'], ['OrgLevelAction', 'string'], ['OrgLevelPolicy', 'string'],
    ['UserLevelAction', 'string'], ['UserLevelPolicy', 'string'], ['ReportId', 'string'], ['AdditionalFields', 'dynamic'],
  ].map(([name, type]) => ({ name: name!, type: type! })),
};

/**
 * The storage resource log tables (StorageBlobLogs, StorageQueueLogs, StorageTableLogs), the
 * columns the three share (learn.microsoft.com/azure/azure-monitor/reference/tables/storagetablelogs).
 * The workspace transformation of modules/monitoring.bicep filters them.
 */
export const STORAGE_LOG_COLUMNS: Columns = [
  ['TimeGenerated', 'datetime'], ['AccountName', 'string'], ['AuthenticationHash', 'string'], ['AuthenticationType', 'string'],
  ['AuthorizationDetails', 'dynamic'], ['CallerIpAddress', 'string'], ['Category', 'string'], ['ClientRequestId', 'string'],
  ['CorrelationId', 'string'], ['DurationMs', 'real'], ['Location', 'string'], ['ObjectKey', 'string'], ['OperationCount', 'int'],
  ['OperationName', 'string'], ['OperationVersion', 'string'], ['Protocol', 'string'], ['RequestBodySize', 'long'],
  ['RequesterAppId', 'string'], ['RequesterAudience', 'string'], ['RequesterObjectId', 'string'], ['RequesterTenantId', 'string'],
  ['RequesterUpn', 'string'], ['ResponseBodySize', 'long'], ['ServerLatencyMs', 'real'], ['ServiceType', 'string'],
  ['StatusCode', 'string'], ['StatusText', 'string'], ['Uri', 'string'], ['UserAgentHeader', 'string'],
].map(([name, type]) => ({ name: name!, type: type! }));

/** A Log Analytics table's columns: the declared ones plus the standard columns every table has. */
export function logAnalyticsTable(columns: Columns): Columns {
  const standard: Columns = [{ name: 'TenantId', type: 'string' }, { name: 'Type', type: 'string' }, { name: '_ResourceId', type: 'string' }];
  return [...columns, ...standard.filter((s) => !columns.some((c) => c.name === s.name))];
}

/** `(a:string, b:long)`: the schema text Kusto.Language reads; names quoted when not plain identifiers. */
function schemaText(columns: Columns): string {
  const name = (n: string): string => (/^[A-Za-z_][\w]*$/.test(n) ? n : `['${n}']`);
  return `(${columns.map((c) => `${name(c.name)}:${c.type}`).join(', ')})`;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

export class KqlChecker {
  private readonly globals: Kusto.Language.GlobalState;

  constructor(readonly schema: KqlSchema) {
    const S = Kusto.Language.Symbols;
    const members: Kusto.Language.Symbols.Symbol[] = [
      ...Object.entries(schema.tables).map(([name, columns]) => new S.TableSymbol.$ctor7(name, schemaText(columns), null)),
      ...(schema.functions ?? []).map((f) => new S.FunctionSymbol.$ctor16(f.name, `(${f.parameters})`, `{\n${f.body}\n}`, null)),
    ];
    const db = new S.DatabaseSymbol.$ctor3('db', null, members as unknown as System.Collections.Generic.IEnumerable$1<Kusto.Language.Symbols.Symbol>, false);
    this.globals = Kusto.Language.GlobalState.Default!.WithDatabase(db)!;
  }

  /** Every error in one query (parse and semantic), with 1-based line and column. */
  check(query: string): KqlProblem[] {
    const code = Kusto.Language.KustoCode.ParseAndAnalyze(query, this.globals)!;
    const diagnostics = code.GetDiagnostics()!;
    const out: KqlProblem[] = [];
    for (let i = 0; i < diagnostics.Count; i++) {
      const d = diagnostics.getItem(i);
      if (d.Severity !== 'Error') continue;
      out.push({ ...lineColumn(query, d.Start), code: d.Code ?? '', severity: d.Severity, message: d.Message ?? '' });
    }
    return out;
  }

  /** Errors in a function's body, with its parameters in scope (lines are the body's own). */
  checkFunction(fn: KqlFunction): KqlProblem[] {
    const header = fn.parameters.trim() ? `declare query_parameters(${fn.parameters});\n` : '';
    return this.check(`${header}${fn.body}`).map((p) => ({ ...p, line: p.line - (header ? 1 : 0) }));
  }
}

export type KqlFile =
  | { kind: 'function'; file: string; fn: KqlFunction }
  | { kind: 'query'; file: string; name: string; text: string; startLine: number };

/**
 * Reads a .kql file: `// function: Name(params)` on the first line makes it a function (its body is
 * the text after the leading comment lines); anything else is a query (`// query: name` names it).
 */
export function parseKqlFile(text: string, file: string): KqlFile {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let bodyStart = 0;
  while (bodyStart < lines.length && /^\s*(\/\/.*)?$/.test(lines[bodyStart]!)) bodyStart++;
  const body = lines.slice(bodyStart).join('\n').trimEnd();
  const fn = /^\/\/ function: (\w+)\((.*)\)\s*$/.exec(lines[0] ?? '');
  if (fn) return { kind: 'function', file, fn: { name: fn[1]!, parameters: fn[2]!, body, file, bodyLine: bodyStart + 1 } };
  const name = /^\/\/ query: (\S+)/.exec(lines[0] ?? '')?.[1] ?? file;
  return { kind: 'query', file, name, text: body, startLine: bodyStart + 1 };
}

export interface KqlBlock {
  file: string;
  /** 1-based line of the block's first query line. */
  line: number;
  text: string;
}

/**
 * The ```kql and ```kusto fenced blocks of a markdown file (indented fences too), split into
 * queries at blank lines, as Kusto editors run them.
 */
export function kqlBlocks(markdown: string, file: string): KqlBlock[] {
  const lines = markdown.split('\n');
  const out: KqlBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(kql|kusto)\s*$/i.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    let current: string[] = [];
    let start = i + 2;
    const flush = (): void => {
      if (current.some((l) => l.trim())) out.push({ file, line: start, text: current.join('\n') });
      current = [];
    };
    for (i = i + 1; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) {
      const line = lines[i]!.slice(Math.min(indent, lines[i]!.length - lines[i]!.trimStart().length));
      if (!line.trim()) {
        flush();
        start = i + 2;
      } else {
        current.push(line);
      }
    }
    flush();
  }
  return out;
}

export function formatProblems(where: string, startLine: number, problems: KqlProblem[]): string {
  return problems.map((p) => `${where}:${startLine + p.line - 1}:${p.column} ${p.code} ${p.message}`).join('\n');
}
