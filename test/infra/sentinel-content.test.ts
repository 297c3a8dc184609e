import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SENTINEL_COLUMNS, SENTINEL_DETAIL_COLUMNS } from '../../shared/formats';

function root(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'infra', 'kql'))) return dir;
    if (dirname(dir) === dir) throw new Error('repository root not found');
  }
}
const KQL = join(root(), 'infra', 'kql');
const kqlFiles = readdirSync(KQL).filter((f) => f.endsWith('.kql'));
const bicep = readFileSync(join(root(), 'infra', 'modules', 'sentinel-content.bicep'), 'utf8');

/** The header of a .kql file: `// function: name(params)` or `// query: name`, and `// uses: f1, f2`. */
function header(file: string): { fn?: { name: string; params: string }; query?: string; uses: string[] } {
  const text = readFileSync(join(KQL, file), 'utf8');
  const fn = /^\/\/ function: (\w+)\((.*)\)$/m.exec(text.split('\n')[0]!);
  const query = /^\/\/ query: ([\w/-]+)$/.exec(text.split('\n')[0]!);
  const uses = /^\/\/ uses: (.+)$/m.exec(text)?.[1]!.split(',').map((s) => s.trim()) ?? [];
  return { ...(fn ? { fn: { name: fn[1]!, params: fn[2]! } } : {}), ...(query ? { query: query[1]! } : {}), uses };
}

test('every .kql file under infra/kql starts with a machine-readable header naming its function (and parameters) or query', () => {
  assert.ok(kqlFiles.length >= 7);
  for (const f of kqlFiles) {
    const h = header(f);
    assert.ok(h.fn || h.query, `${f}: the first line must be "// function: <name>(<parameters>)" or "// query: <name>"`);
    if (h.fn) assert.equal(`${h.fn.name}.kql`, f, 'a function file is named after the function');
  }
});

test('the Bicep module deploys each function file as a workspace function with the parameters of its header', () => {
  const vars = new Map([...bicep.matchAll(/^var (\w+) = '((?:[^'\\]|\\.)*)'$/gm)].map((m) => [m[1]!, m[2]!.replace(/\\'/g, "'")]));
  const functions = kqlFiles.map(header).filter((h) => h.fn).map((h) => h.fn!);
  assert.deepEqual(functions.map((f) => f.name).sort(), ['ASimEmailEventMicrosoftMessageTrace', 'vimEmailEventMicrosoftMessageTrace']);
  for (const fn of functions) {
    const block = new RegExp(`functionAlias: '${fn.name}'\\s+functionParameters: (\\w+|'[^\\n]*')\\s+query: loadTextContent\\('\\.\\./kql/${fn.name}\\.kql'\\)`).exec(bicep);
    assert.ok(block, `sentinel-content.bicep deploys ${fn.name} from infra/kql/${fn.name}.kql`);
    const raw = block[1]!;
    const params = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\'/g, "'") : vars.get(raw);
    assert.equal(params, fn.params, `${fn.name}: functionParameters equal the file's header`);
  }
});

test('every file the Bicep module loads exists, and every query names the functions it uses', () => {
  const loaded = [...bicep.matchAll(/loadTextContent\('\.\.\/kql\/([^']+)'\)/g)].map((m) => m[1]!);
  for (const f of loaded) assert.ok(kqlFiles.includes(f), `infra/kql/${f} exists`);
  for (const f of kqlFiles) assert.ok(loaded.includes(f), `infra/kql/${f} is deployed by sentinel-content.bicep`);
  const defined = kqlFiles.map(header).filter((h) => h.fn).map((h) => h.fn!.name);
  for (const f of kqlFiles) {
    const h = header(f);
    const text = readFileSync(join(KQL, f), 'utf8').split('\n').filter((l) => !l.startsWith('//')).join('\n');
    for (const u of h.uses) {
      assert.ok(defined.includes(u), `${f} uses ${u}, a function of infra/kql`);
      assert.ok(text.includes(`${u}(`), `${f} calls ${u}`);
    }
  }
});

test('the ASIM parser reads every column of the table the azure-monitor destination writes', () => {
  const parser = readFileSync(join(KQL, 'vimEmailEventMicrosoftMessageTrace.kql'), 'utf8').split('\n').filter((l) => !l.startsWith('//')).join('\n');
  for (const c of SENTINEL_COLUMNS) assert.match(parser, new RegExp(`\\b${c.name}\\b`), `column ${c.name} is mapped (or explicitly projected away)`);
  assert.match(parser, /NetworkMessageId = MessageTraceId/, 'NetworkMessageId joins Defender EmailEvents');
});

test('the ASIM parser takes the schema\'s filter parameters and outputs only fields of the ASIM Email Event schema (plus the Defender join keys)', () => {
  const asim = JSON.parse(readFileSync(join(root(), 'test', 'infra', 'testdata', 'asim-email-event-1.0.0.json'), 'utf8')) as { fields: Record<string, string>; parameters: string };
  assert.equal(header('vimEmailEventMicrosoftMessageTrace.kql').fn!.params, asim.parameters);
  const parser = readFileSync(join(KQL, 'vimEmailEventMicrosoftMessageTrace.kql'), 'utf8').split('\n').filter((l) => !l.startsWith('//')).join('\n');
  // Output columns: the assignments of the extend and project-rename steps, plus TimeGenerated.
  const outputs = new Set([...parser.matchAll(/(?:^\s+|extend\s+|project-rename\s+|,\s*)([A-Z]\w+) = /gm)].map((m) => m[1]!));
  const extras = ['NetworkMessageId', 'InternetMessageId'];
  for (const name of outputs) assert.ok(name in asim.fields || extras.includes(name), `${name} is a field of the ASIM Email Event schema`);
  for (const required of ['EventCount', 'EventStartTime', 'EventEndTime', 'EventType', 'EventResult', 'EventProduct', 'EventVendor', 'EventSchema', 'EventSchemaVersion', 'Dvc', 'EmailDirection', 'EmailDeliveryLocation', 'EmailFromAddress', 'EmailToRecipients', 'EmailSubject', 'SrcIpAddr', 'DvcAction']) {
    assert.ok(outputs.has(required), `${required} is set`);
  }
  assert.match(parser, /EventSchemaVersion = '1\.0\.0'/);
  assert.match(parser, /EmailToRecipients = pack_array\(/, 'EmailToRecipients is dynamic, as the schema types it');
});

test('the ASIM parser stays one event per trace row, completed by the row\'s detail events, and the hunting queries read rows only through it', () => {
  const parser = readFileSync(join(KQL, 'vimEmailEventMicrosoftMessageTrace.kql'), 'utf8').split('\n').filter((l) => !l.startsWith('//')).join('\n');
  assert.match(parser, /^MessageTrace_CL$/m, 'the events are the rows of the trace table');
  assert.match(parser, /let details = MessageTraceDetail_CL[\s\S]*summarize[\s\S]*by EventId = TraceEventId;/, 'details are summarised per trace row');
  assert.match(parser, /\| lookup kind=leftouter details on EventId/, 'a left lookup: a row without details stays, and a row never repeats');
  for (const column of ['RuleName', 'SpamConfidenceLevel', 'SpamCategory', 'MalwareName', 'SmtpResponse', 'SmtpEnhancedStatusCode', 'DetailEvent', 'TraceEventId']) {
    assert.ok(SENTINEL_DETAIL_COLUMNS.some((c) => c.name === column), `${column} is a column of the detail table`);
    assert.match(parser, new RegExp(`\\b${column}\\b`), `the parser reads ${column}`);
  }
  for (const f of kqlFiles.filter((x) => x.startsWith('hunting-'))) {
    const text = readFileSync(join(KQL, f), 'utf8').split('\n').filter((l) => !l.startsWith('//')).join('\n');
    assert.ok(!/MessageTraceDetail_CL|MessageTrace_CL/.test(text), `${f} reads the tables only through the parser`);
  }
});

