/**
 * The telemetry reference in docs/operations.md is generated from the declarations in
 * shared/telemetry.ts, so the two cannot drift (STYLE: metadata.yaml and documentation.md).
 * Regenerate after changing METRICS, EVENTS or SPANS (replaces the block between the markers):
 *   npm run build && node -e "const fs=require('fs'),t=require('./dist/shared/telemetry.js'),p='docs/operations.md',s=fs.readFileSync(p,'utf8');
 *     fs.writeFileSync(p,s.slice(0,s.indexOf(t.REFERENCE_BEGIN))+t.renderTelemetryReference()+s.slice(s.indexOf(t.REFERENCE_END)+t.REFERENCE_END.length))"
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { EVENT_PROPERTIES, EVENTS, METRICS, REFERENCE_BEGIN, REFERENCE_END, SPANS, renderTelemetryReference, type MetricDeclaration } from '../../shared/telemetry';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const ops = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');

test('docs/operations.md holds exactly the reference generated from METRICS, EVENTS and SPANS', () => {
  const begin = ops.indexOf(REFERENCE_BEGIN);
  const end = ops.indexOf(REFERENCE_END);
  assert.ok(begin >= 0 && end > begin, 'docs/operations.md has the telemetry reference markers');
  assert.equal(ops.indexOf(REFERENCE_BEGIN, begin + 1), -1, 'the reference appears once');
  assert.equal(ops.slice(begin, end + REFERENCE_END.length), renderTelemetryReference(),
    'the telemetry reference in docs/operations.md is out of date: regenerate it (see the comment at the top of this test)');
});

test('every telemetry name in a table of the operations page is declared in shared/telemetry.ts', () => {
  const declared = new Set<string>([...Object.values(METRICS).map((m) => m.name), ...Object.values(EVENTS), ...Object.values(SPANS)]);
  const mentioned = new Set([...ops.matchAll(/^\| `(mtc\.[a-z_.]+)` \|/gm)].map((m) => m[1]!));
  assert.ok(mentioned.size >= Object.keys(METRICS).length + Object.keys(EVENTS).length);
  for (const name of mentioned) assert.ok(declared.has(name), `docs/operations.md mentions ${name}, which shared/telemetry.ts does not declare`);
});

test('metric declarations are uniform: unique names, snake_case tags, every metric tagged by source (or, for the app-wide queue gauge, by queue)', () => {
  const list = Object.values(METRICS as Record<string, MetricDeclaration>);
  assert.equal(new Set(list.map((m) => m.name)).size, list.length, 'metric names are unique');
  for (const m of list) {
    assert.match(m.name, /^mtc(\.[a-z_]+)+$/);
    assert.ok(m.tags.includes('source') || (m.kind === 'gauge' && m.tags.join() === 'queue'), `${m.name} is tagged by source`);
    for (const t of m.tags) assert.match(t, /^[a-z]+(_[a-z]+)*$/, `${m.name} tag ${t}`);
    assert.ok(m.description.length > 20, `${m.name} is described`);
  }
  for (const k of Object.keys(EVENTS) as (keyof typeof EVENTS)[]) {
    const props = EVENT_PROPERTIES[k].properties;
    assert.ok(props.includes('source') || props.includes('destination'), `${EVENTS[k]} has a source or destination property`);
  }
});
