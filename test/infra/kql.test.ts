// Every KQL query the project ships parses and binds against the tables and columns it queries
// (test/infra/kql.ts): the alert rules and workbook tiles as compiled, the DCR transform, every
// infra/**/*.kql file (function files registered as workspace functions) and the kusto blocks of docs/.
// Table schemas: Application Insights' classic tables and Defender's EmailEvents (declared in
// kql.ts) and the custom table the logs-ingestion module creates, read from the compiled template,
// not a second copy. Each alert rule and workbook is checked against the resource it is scoped to.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, at, bicepFor, infraFiles, ofType, single, snapshot, type Snapshot } from './arm';
import {
  APP_INSIGHTS_TABLES, DEFENDER_TABLES, KqlChecker, STORAGE_LOG_COLUMNS, formatProblems, kqlBlocks, logAnalyticsTable, parseKqlFile, type Columns, type KqlFile, type KqlFunction,
} from './kql';
import { DEFAULT, LOCKED_DOWN } from './settings';

/** The locked-down snapshot deploys every optional part, the logs ingestion table included. */
function compiled(t: TestContext): Snapshot | undefined {
  const exe = bicepFor(t);
  return exe ? snapshot(exe, LOCKED_DOWN) : undefined;
}

/** Custom Log Analytics tables as the compiled template creates them (the storage logs' tables only set a plan: no schema). */
function workspaceTables(snap: Snapshot): Record<string, Columns> {
  return Object.fromEntries(ofType(snap, 'Microsoft.OperationalInsights/workspaces/tables').filter((table) => at(table, 'properties.schema') !== undefined).map((table) => {
    const schema = at(table, 'properties.schema') as { name: string; columns: Columns };
    return [schema.name, logAnalyticsTable(schema.columns)];
  }));
}

function infraKqlFiles(): KqlFile[] {
  return infraFiles('.kql').map((f) => parseKqlFile(fs.readFileSync(path.join(REPO_ROOT, f), 'utf8'), f));
}

const functionsOf = (files: KqlFile[]): KqlFunction[] => files.flatMap((f) => (f.kind === 'function' ? [f.fn] : []));

/** Every `query` string inside a workbook's items, tabs and groups included. */
function workbookQueries(value: unknown, path: string[] = []): { where: string; text: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => workbookQueries(v, [...path, String((v as { name?: string })?.name ?? i)]));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => (k === 'query' && typeof v === 'string' ? [{ where: path.join('/'), text: v }] : workbookQueries(v, path)));
}

test('the alert rule queries and every workbook tile, as compiled, parse against the tables of the resource they query', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  const appInsights = single(snap, 'Microsoft.Insights/components');
  const workspace = single(snap, 'Microsoft.OperationalInsights/workspaces');
  const onAppInsights = new KqlChecker({ tables: APP_INSIGHTS_TABLES });
  const onWorkspace = new KqlChecker({ tables: { ...workspaceTables(snap), ...DEFENDER_TABLES }, functions: functionsOf(infraKqlFiles()) });
  const checkerFor = (scope: unknown): KqlChecker => {
    if (scope === appInsights.id) return onAppInsights;
    if (scope === workspace.id) return onWorkspace;
    throw new Error(`a query runs on ${String(scope)}, neither the Application Insights component nor the workspace`);
  };
  const queries: { where: string; text: string; checker: KqlChecker }[] = [];
  for (const rule of ofType(snap, 'Microsoft.Insights/scheduledQueryRules')) {
    const scopes = at(rule, 'properties.scopes') as string[];
    for (const [i, c] of (at(rule, 'properties.criteria.allOf') as { query: string }[]).entries()) {
      queries.push({ where: `alert ${rule.name} criterion ${i}`, text: c.query, checker: checkerFor(scopes[0]) });
    }
  }
  for (const workbook of ofType(snap, 'Microsoft.Insights/workbooks')) {
    const checker = checkerFor(at(workbook, 'properties.sourceId'));
    const content = JSON.parse(String(at(workbook, 'properties.serializedData'))) as { items: unknown[] };
    for (const q of workbookQueries(content.items)) queries.push({ where: `workbook ${String(at(workbook, 'properties.displayName'))} tile ${q.where}`, text: q.text, checker });
  }
  assert.ok(queries.length >= 12, `expected the 5 alert rules and 7 workbook queries, found ${queries.length}`);
  const failures = queries.map((q) => formatProblems(q.where, 1, q.checker.check(q.text))).filter(Boolean);
  t.diagnostic(`kql: ${queries.length} alert and workbook queries checked, ${failures.length} with errors`);
  assert.deepEqual(failures, []);
});

test('the data collection rule transform parses against its input stream', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  const dcr = single(snap, 'Microsoft.Insights/dataCollectionRules');
  const streams = at(dcr, 'properties.streamDeclarations') as Record<string, { columns: Columns }>;
  for (const flow of at(dcr, 'properties.dataFlows') as { streams: string[]; transformKql: string }[]) {
    const checker = new KqlChecker({ tables: { source: streams[flow.streams[0]!]!.columns } });
    assert.deepEqual(checker.check(flow.transformKql), [], `transform of ${flow.streams.join(', ')}`);
  }
});

test('the workspace transformation of the storage logs parses and binds against the storage log tables\' columns', (t) => {
  const exe = bicepFor(t);
  if (!exe) return;
  const rule = ofType(snapshot(exe, DEFAULT), 'Microsoft.Insights/dataCollectionRules').find((r) => r.kind === 'WorkspaceTransforms');
  assert.ok(rule, 'the default deployment has the storage log filter');
  const checker = new KqlChecker({ tables: { source: STORAGE_LOG_COLUMNS } });
  for (const flow of at(rule, 'properties.dataFlows') as { streams: string[]; transformKql: string }[]) {
    // The ARM expression [format('<kql>', reference(...).principalId)]: the KQL with a principal id in {0}.
    const m = /^\[format\('((?:[^']|'')*)', reference\(/.exec(flow.transformKql);
    assert.ok(m, `${flow.streams[0]}: the transform is a format() of the KQL and the identity's principal id`);
    const kql = m[1]!.replace(/''/g, "'").replace('{0}', '01234567-89ab-cdef-0123-456789abcdef');
    assert.deepEqual(checker.check(kql), [], `transform of ${flow.streams.join(', ')}: ${kql}`);
    // A filter that keeps everything would pass the checker too; it must compare the requester.
    assert.match(kql, /RequesterObjectId !~ '01234567-89ab-cdef-0123-456789abcdef'/);
  }
});

test('every infra/**/*.kql file parses: function files register as workspace functions, queries resolve their calls', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  const files = infraKqlFiles();
  const functions = functionsOf(files);
  const checker = new KqlChecker({ tables: { ...workspaceTables(snap), ...DEFENDER_TABLES }, functions });
  const failures: string[] = [];
  for (const f of files) {
    const problems = f.kind === 'function' ? checker.checkFunction(f.fn) : checker.check(f.text);
    const start = f.kind === 'function' ? f.fn.bodyLine! : f.startLine;
    if (problems.length) failures.push(formatProblems(f.file, start, problems));
  }
  t.diagnostic(`kql: ${files.length} infra .kql files checked (${functions.length} functions: ${functions.map((f) => f.name).join(', ') || 'none'}), ${failures.length} with errors`);
  assert.deepEqual(failures, []);
});

test('every kusto block in docs/ parses against the Application Insights tables, the workspace tables and functions', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  const checker = new KqlChecker({ tables: { ...APP_INSIGHTS_TABLES, ...workspaceTables(snap), ...DEFENDER_TABLES }, functions: functionsOf(infraKqlFiles()) });
  const docs: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.endsWith('.md')) docs.push(path.join(dir, e.name));
    }
  };
  walk('docs');
  const blocks = [...docs, 'README.md'].flatMap((f) => kqlBlocks(fs.readFileSync(path.join(REPO_ROOT, f), 'utf8'), f));
  assert.ok(blocks.length >= 4, `found only ${blocks.length} kusto blocks in docs/`);
  const failures = blocks.map((b) => formatProblems(b.file, b.line, checker.check(b.text))).filter(Boolean);
  t.diagnostic(`kql: ${blocks.length} queries from docs checked, ${failures.length} with errors`);
  assert.deepEqual(failures, []);
});

test('a broken query is reported with its line, column and reason', () => {
  const checker = new KqlChecker({ tables: APP_INSIGHTS_TABLES });
  const unknownColumn = checker.check('customMetrics\n| where nam == "mtc.health"');
  assert.deepEqual(unknownColumn.map((p) => [p.line, p.column, p.code]), [[2, 9, 'KS142']], JSON.stringify(unknownColumn));
  assert.match(unknownColumn[0]!.message, /'nam'/);
  assert.ok(checker.check('customMetrics | where').length > 0, 'a missing expression parses');
  assert.ok(checker.check('customMetricz | take 1').length > 0, 'an unknown table resolves');
  assert.ok(checker.check('customMetrics | summarize max(name) by bin(timestamp, "5m")').length > 0, 'a string passed as a timespan binds');
  assert.deepEqual(checker.check('customMetrics | summarize lag = max(valueMax) by source = tostring(customDimensions.source)'), []);
});

test('function files register with their parameters, so calls resolve and wrong calls are reported', () => {
  const table = logAnalyticsTable([{ name: 'TimeGenerated', type: 'datetime' }, { name: 'SenderAddress', type: 'string' }, { name: 'Direction', type: 'string' }]);
  const parser = parseKqlFile([
    '// function: vimEmailEventDemo(starttime:datetime=datetime(null), emaildirection_in:dynamic=dynamic([]))',
    '// table: Demo_CL',
    'Demo_CL',
    '| where isnull(starttime) or TimeGenerated >= starttime',
    '| where array_length(emaildirection_in) == 0 or Direction in (emaildirection_in)',
    '| project-rename EmailFromAddress = SenderAddress',
  ].join('\n'), 'vimEmailEventDemo.kql');
  assert.equal(parser.kind, 'function');
  if (parser.kind !== 'function') return;
  assert.equal(parser.fn.bodyLine, 3);
  const unfiltered = parseKqlFile('// function: ASimEmailEventDemo(pack:bool=false)\nvimEmailEventDemo()', 'ASimEmailEventDemo.kql');
  const functions = functionsOf([parser, unfiltered]);
  const checker = new KqlChecker({ tables: { Demo_CL: table }, functions });
  for (const fn of functions) assert.deepEqual(checker.checkFunction(fn), [], fn.name);
  assert.deepEqual(checker.check("vimEmailEventDemo(starttime = ago(1d), emaildirection_in = dynamic(['Inbound'])) | summarize count() by EmailFromAddress"), []);
  assert.deepEqual(checker.check('ASimEmailEventDemo() | take 10'), []);
  assert.ok(checker.check('vimEmailEventDemo(start = ago(1d))').length > 0, 'an unknown parameter name resolves');
  assert.ok(checker.check('vimEmailEventDemo() | project SenderAddress').length > 0, 'a column the parser renamed away resolves');
  const brokenBody = parseKqlFile('// function: vimBroken(starttime:datetime)\nDemo_CL\n| where TimeGeneratd >= starttime', 'vimBroken.kql');
  assert.equal(brokenBody.kind, 'function');
  if (brokenBody.kind === 'function') {
    const problems = checker.checkFunction(brokenBody.fn);
    assert.deepEqual(problems.map((p) => [p.line, p.code]), [[2, 'KS142']], JSON.stringify(problems));
  }
  const query = parseKqlFile('// query: hunting/Demo\n// uses: vimEmailEventDemo\nvimEmailEventDemo(starttime = ago(1d))\n| take 5', 'hunting-demo.kql');
  assert.equal(query.kind, 'query');
  if (query.kind === 'query') {
    assert.equal(query.name, 'hunting/Demo');
    assert.equal(query.startLine, 3);
    assert.deepEqual(checker.check(query.text), []);
  }
});

test('kusto blocks are read from markdown fences, indented or not, one query per blank-line-separated part', () => {
  const md = ['text', '```kusto', 'customEvents | take 1', '', 'traces | take 1', '```', '- item', '  ```kql', '  requests', '  | take 1', '  ```', '```bash', 'echo', '```'].join('\n');
  assert.deepEqual(kqlBlocks(md, 'x.md'), [
    { file: 'x.md', line: 3, text: 'customEvents | take 1' },
    { file: 'x.md', line: 5, text: 'traces | take 1' },
    { file: 'x.md', line: 9, text: 'requests\n| take 1' },
  ]);
});
