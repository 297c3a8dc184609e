import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { applyPrivacy, createFormatter, FORMAT_NAMES, mailDirection, SENTINEL_COLUMNS } from '../../shared/formats';
import { componentTestdata, repoPath } from '../support/testdata';
import { ACCEPTED, sampleEvents } from './fixtures';

/** `<format>/<file>` under shared/formats/<format>/testdata. */
const testdata = (name: string) => componentTestdata('formats', name.split('/')[0]!, name.split('/')[1]!);
const read = (name: string): unknown => JSON.parse(readFileSync(testdata(name), 'utf8'));

/** Golden files: MTC_UPDATE_GOLDEN=1 rewrites them (review the diff). */
function golden(name: string, actual: unknown): void {
  if (process.env.MTC_UPDATE_GOLDEN === '1') writeFileSync(testdata(name), JSON.stringify(actual, null, 2) + '\n');
  assert.deepEqual(actual, read(name));
}

function flatten(v: unknown, prefix = '', out: Record<string, unknown[]> = {}): Record<string, unknown[]> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    (out[prefix] ??= []).push(...(Array.isArray(v) ? v : [v]));
  }
  return out;
}

const isDate = (x: unknown) => typeof x === 'string' && !Number.isNaN(Date.parse(x)) && /T.*Z$/.test(x);

describe('formats', () => {
  it('derives mail direction from the accepted domains (subdomains included)', () => {
    assert.equal(mailDirection('a@fabrikam.com', 'b@contoso.com', ACCEPTED), 'inbound');
    assert.equal(mailDirection('a@contoso.com', 'b@fabrikam.com', ACCEPTED), 'outbound');
    assert.equal(mailDirection('a@contoso.com', 'b@sub.contoso.com', ACCEPTED), 'internal');
    assert.equal(mailDirection('a@contoso.com', 'b@contoso.com', []), 'unknown');
  });

  it('takes mail direction from the domains of the event\'s own source when it has them', () => {
    // One destination fed by two tenants: mail between them is outbound for one and inbound for the other.
    const format = createFormatter({
      format: 'sentinel', acceptedDomains: ['contoso.com'], privacy: { drop: [], hash: [] },
      acceptedDomainsBySource: { fabrikam: ['Fabrikam.com'] },
    });
    const [first] = sampleEvents(); // alerts@fabrikam.com -> Linus@contoso.com
    assert.equal(format({ ...first!, sourceId: 'contoso' }).Direction, 'inbound', 'a source without its own list uses the destination\'s');
    assert.equal(format({ ...first!, sourceId: 'fabrikam' }).Direction, 'outbound', 'fabrikam\'s own domains');
  });

  it('maps to ECS as in the golden file, using only fields, types and allowed values of the published ECS definitions', () => {
    const format = createFormatter({ format: 'ecs', acceptedDomains: ACCEPTED, privacy: { drop: [], hash: [] } });
    const out = sampleEvents().map(format);
    golden('ecs/expected_ecs.json', out);
    const defs = read('ecs/ecs-fields.json') as Record<string, { type: string; allowed?: string[] }>;
    for (const doc of out) {
      for (const [field, values] of Object.entries(flatten(doc))) {
        if (field.startsWith('mtc.')) continue; // our own namespace, outside ECS
        if (field.startsWith('microsoft.online_message_trace.')) continue; // the integration's namespace (elastic-integration.test.ts)
        const def = defs[field];
        assert.ok(def, `${field} is an ECS field`);
        for (const v of values) {
          if (def.type === 'date') assert.ok(isDate(v), `${field} is a date`);
          else if (def.type === 'ip') assert.ok(isIP(String(v)), `${field} is an ip`);
          else if (def.type === 'long') assert.ok(Number.isInteger(v), `${field} is a long`);
          else assert.equal(typeof v, 'string', `${field} is a keyword`);
          if (def.allowed) assert.ok(def.allowed.includes(String(v)), `${field}: "${String(v)}" is an allowed value`);
        }
      }
    }
  });

  it('maps to OCSF Email Activity (4009) as in the golden file (validated against OCSF 1.8.0 in ocsf.test.ts)', () => {
    const format = createFormatter({ format: 'ocsf', acceptedDomains: ACCEPTED, privacy: { drop: [], hash: [] } });
    golden('ocsf/expected_ocsf.json', sampleEvents().map(format));
  });

  it('hashes recipient local parts and drops the subject in every format, leaving the eventId unchanged', () => {
    const event = sampleEvents()[0]!;
    const rules = { drop: ['subject' as const], hash: ['recipientLocalPart' as const] };
    const hashed = applyPrivacy(event, rules, 'key');
    assert.equal(hashed.eventId, event.eventId);
    assert.equal(hashed.row.subject, undefined);
    assert.match(hashed.row.recipientAddress, /^[0-9a-f]{32}@contoso\.com$/);
    for (const format of FORMAT_NAMES) {
      const text = JSON.stringify(createFormatter({ format, acceptedDomains: ACCEPTED, privacy: rules }, 'key')(event));
      assert.ok(!text.includes('Invoice 42') && !/linus@/i.test(text), `${format} carries no subject or local part`);
    }
    assert.notEqual(applyPrivacy(event, rules, 'other-key').row.recipientAddress, hashed.row.recipientAddress);
  });
});

describe('infra/modules/logs-ingestion.bicep', () => {
  it('declares exactly the columns and types of the sentinel format', () => {
    const bicep = readFileSync(repoPath('infra', 'modules', 'logs-ingestion.bicep'), 'utf8');
    const declared = [...bicep.matchAll(/\{ name: '([A-Za-z0-9_]+)', type: '([a-z]+)' \}/g)].map((m) => ({ name: m[1], type: m[2] }));
    assert.deepEqual(declared, SENTINEL_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
  });
});
