// What infra/modules/logs-ingestion.bicep deploys, as Azure's template engine predicts it (bicep
// snapshot of the locked-down setting, which deploys logs ingestion): a table and a DCR stream per
// kind of event, each with exactly the columns of the "sentinel" format (SENTINEL_COLUMNS,
// SENTINEL_DETAIL_COLUMNS), one data flow per stream into its own table, and the detail stream named
// as the azure-monitor destination derives it from its "streamName".
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { detailStreamName } from '../../shared/destinations/azure-monitor/destination';
import { SENTINEL_COLUMNS, SENTINEL_DETAIL_COLUMNS } from '../../shared/formats';
import { at, bicepFor, ofType, single, snapshot, type Snapshot } from './arm';
import { LOCKED_DOWN } from './settings';

function compiled(t: TestContext): Snapshot | undefined {
  const exe = bicepFor(t);
  return exe ? snapshot(exe, LOCKED_DOWN) : undefined;
}

const columns = (list: readonly { name: string; type: string }[]) => list.map((c) => ({ name: c.name, type: c.type }));

test('the workspace gets a table for trace rows and one for detail events, each with the columns of the sentinel format', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  // Tables with a schema: the collector's own (the storage logs' Azure tables only get a plan).
  const tables = Object.fromEntries(ofType(snap, 'Microsoft.OperationalInsights/workspaces/tables').filter((table) => at(table, 'properties.schema') !== undefined).map((table) => {
    const schema = at(table, 'properties.schema') as { name: string; columns: { name: string; type: string }[] };
    return [schema.name, schema.columns];
  }));
  assert.deepEqual(Object.keys(tables).sort(), ['MessageTraceDetail_CL', 'MessageTrace_CL']);
  assert.deepEqual(tables.MessageTrace_CL, columns(SENTINEL_COLUMNS));
  assert.deepEqual(tables.MessageTraceDetail_CL, columns(SENTINEL_DETAIL_COLUMNS));
});

test('the DCR declares a stream per table with the same columns and sends each into its own table; the detail stream is the one the destination derives', (t) => {
  const snap = compiled(t);
  if (!snap) return;
  const dcr = single(snap, 'Microsoft.Insights/dataCollectionRules');
  const streams = at(dcr, 'properties.streamDeclarations') as Record<string, { columns: { name: string; type: string }[] }>;
  assert.deepEqual(Object.keys(streams).sort(), ['Custom-MessageTraceDetail_CL', 'Custom-MessageTrace_CL']);
  assert.deepEqual(streams['Custom-MessageTrace_CL']!.columns, columns(SENTINEL_COLUMNS));
  assert.deepEqual(streams['Custom-MessageTraceDetail_CL']!.columns, columns(SENTINEL_DETAIL_COLUMNS));
  assert.equal(detailStreamName('Custom-MessageTrace_CL'), 'Custom-MessageTraceDetail_CL');
  const flows = at(dcr, 'properties.dataFlows') as { streams: string[]; destinations: string[]; outputStream: string; transformKql: string }[];
  assert.deepEqual(flows.map((f) => [f.streams, f.outputStream, f.transformKql]), [
    [['Custom-MessageTrace_CL'], 'Custom-MessageTrace_CL', 'source'],
    [['Custom-MessageTraceDetail_CL'], 'Custom-MessageTraceDetail_CL', 'source'],
  ]);
});
