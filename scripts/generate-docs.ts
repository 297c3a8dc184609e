/**
 * `npm run docs`: rewrites every generated block of the docs from its declaration in code
 * (shared/reference-docs.ts) and the telemetry reference (shared/telemetry.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GENERATED_BLOCKS, replaceBlock } from '../shared/reference-docs';
import { REFERENCE_BEGIN, REFERENCE_END, renderTelemetryReference } from '../shared/telemetry';

const root = path.resolve(__dirname, '..', '..');
const changed = new Set<string>();
for (const b of GENERATED_BLOCKS) {
  const file = path.join(root, b.doc);
  const before = fs.readFileSync(file, 'utf8');
  const after = replaceBlock(before, b);
  if (after !== before) {
    fs.writeFileSync(file, after);
    changed.add(b.doc);
  }
}
const ops = path.join(root, 'docs', 'operations.md');
const text = fs.readFileSync(ops, 'utf8');
const updated = text.slice(0, text.indexOf(REFERENCE_BEGIN)) + renderTelemetryReference() + text.slice(text.indexOf(REFERENCE_END) + REFERENCE_END.length);
if (updated !== text) {
  fs.writeFileSync(ops, updated);
  changed.add('docs/operations.md');
}
console.log(changed.size ? `updated ${[...changed].join(', ')}` : 'the generated docs are up to date');
