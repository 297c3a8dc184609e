import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIP } from 'node:net';
import { applyPrivacy, createFormatter, FORMAT_NAMES, mailDirection, SENTINEL_COLUMNS, SENTINEL_DETAIL_COLUMNS, type FormatName } from '../../shared/formats';
import { toDetailUdm } from '../../shared/formats/udm/detail';
import { isDetailEvent, type TraceEvent } from '../../shared/model/row';
import { componentTestdata, repoPath } from '../support/testdata';
import { ACCEPTED, detailRows, sampleDetailEvents, sampleEvents } from './fixtures';

/** `<format>/<file>` under shared/formats/<format>/testdata. */
const testdata = (name: string) => componentTestdata('formats', name.split('/')[0]!, name.split('/')[1]!);
const read = (name: string): unknown => JSON.parse(readFileSync(testdata(name), 'utf8'));

/** Golden files: MTC_UPDATE_GOLDEN=1 rewrites them (review the diff). */
function golden(name: string, actual: unknown): void {
  if (process.env.MTC_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(testdata(name)), { recursive: true });
    writeFileSync(testdata(name), JSON.stringify(actual, null, 2) + '\n');
  }
  assert.deepEqual(actual, read(name));
}

const NO_PRIVACY = { drop: [], hash: [] };
const formatted = (format: FormatName, events: TraceEvent[]) => events.map(createFormatter({ format, acceptedDomains: ACCEPTED, privacy: NO_PRIVACY }));

function flatten(v: unknown, prefix = '', out: Record<string, unknown[]> = {}): Record<string, unknown[]> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    (out[prefix] ??= []).push(...(Array.isArray(v) ? v : [v]));
  }
  return out;
}

const isDate = (x: unknown) => typeof x === 'string' && !Number.isNaN(Date.parse(x)) && /T.*Z$/.test(x);

/** Every field of an ECS document is in the published definitions, with their type and allowed values. */
function assertEcs(doc: Record<string, unknown>): void {
  const defs = read('ecs/ecs-fields.json') as Record<string, { type: string; allowed?: string[] }>;
  for (const [field, values] of Object.entries(flatten(doc))) {
    if (field.startsWith('mtc.')) continue; // our own namespace, outside ECS
    if (field.startsWith('microsoft.online_message_trace.')) continue; // the integration's namespace (elastic-integration.test.ts)
    if (field.startsWith('microsoft.online_message_trace_detail.')) continue; // the legacy detail record, beside it
    const def = defs[field];
    assert.ok(def, `${field} is an ECS field`);
    for (const v of values) {
      if (def.type === 'date') assert.ok(isDate(v), `${field} is a date`);
      else if (def.type === 'ip') assert.ok(isIP(String(v)), `${field} is an ip`);
      else if (def.type === 'long') assert.ok(Number.isInteger(v), `${field} is a long`);
      else if (def.type === 'float') assert.ok(typeof v === 'number' && Number.isFinite(v), `${field} is a float`);
      else assert.equal(typeof v, 'string', `${field} is a keyword or text`);
      if (def.allowed) assert.ok(def.allowed.includes(String(v)), `${field}: "${String(v)}" is an allowed value`);
    }
  }
}

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
    const out = formatted('ecs', sampleEvents());
    golden('ecs/expected_ecs.json', out);
    for (const doc of out) assertEcs(doc);
  });

  it('maps detail events to ECS (their own dataset, rule.*, observer.*, event.reason) as in the golden file, with ECS fields only', () => {
    const out = formatted('ecs', sampleDetailEvents());
    golden('ecs/expected_ecs_detail.json', out);
    for (const doc of out) assertEcs(doc);
    assert.ok(out.every((d) => (d.event as { dataset: string }).dataset === 'mtc.message_trace_detail'));
    const fail = out.find((d) => (d.mtc as { detail: { enhanced_status?: string } }).detail.enhanced_status === '5.1.10')!;
    assert.deepEqual([(fail.event as Record<string, unknown>).action, (fail.event as Record<string, unknown>).outcome, (fail.event as Record<string, unknown>).reason], ['fail', 'failure', '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup']);
    const rule = out.find((d) => d.rule)!;
    assert.deepEqual(rule.rule, { name: 'Quarantine payroll keywords', id: '9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e', category: 'Mail flow rule' });
    assert.deepEqual((rule.event as { type: string[] }).type, ['info', 'denied']);
    const trace = formatted('ecs', sampleEvents());
    for (const doc of out) {
      const joins = trace.filter((t) => (t.event as { id: string }).id === (doc.mtc as { trace_event_id: string }).trace_event_id);
      assert.ok(joins.length <= 1);
    }
  });

  it('maps to OCSF Email Activity (4009) as in the golden file (validated against OCSF 1.8.0 in ocsf.test.ts)', () => {
    golden('ocsf/expected_ocsf.json', formatted('ocsf', sampleEvents()));
  });

  it('maps detail events to OCSF Email Activity as in the golden file (validated against OCSF 1.8.0 in ocsf.test.ts)', () => {
    golden('ocsf/expected_ocsf_detail.json', formatted('ocsf', sampleDetailEvents()));
  });

  it('maps detail events to the legacy MessageTraceDetail record, the raw envelope and the Sentinel detail columns as in the golden files', () => {
    golden('o365-messagetrace/expected_o365-messagetrace_detail.json', formatted('o365-messagetrace', sampleDetailEvents()));
    golden('raw/expected_raw_detail.json', formatted('raw', sampleDetailEvents()));
    const sentinel = formatted('sentinel', sampleDetailEvents());
    golden('sentinel/expected_sentinel_detail.json', sentinel);
    const names = new Set(SENTINEL_DETAIL_COLUMNS.map((c) => c.name));
    for (const row of sentinel) {
      for (const [k, v] of Object.entries(row)) {
        assert.ok(names.has(k), `${k} is a column of MessageTraceDetail_CL`);
        const type = SENTINEL_DETAIL_COLUMNS.find((c) => c.name === k)!.type;
        if (type === 'long') assert.ok(Number.isInteger(v), `${k} is a long`);
        else if (type === 'datetime') assert.ok(isDate(v), `${k} is a datetime`);
        else if (type === 'string') assert.equal(typeof v, 'string', `${k} is a string`);
      }
    }
  });

  it('maps detail events to UDM for Google SecOps as in the golden file', () => {
    golden('udm/expected_udm_detail.json', sampleDetailEvents().map((e) => toDetailUdm(e)));
  });

  it('gives every format\'s detail record the join to its trace row: the row key fields, and the trace event id where the format has the envelope', () => {
    const rows = Object.values(detailRows());
    for (const e of sampleDetailEvents()) {
      const row = rows.find((r) => r.id === e.row.id)!;
      const [report] = formatted('o365-messagetrace', [e]);
      assert.deepEqual([report!.MessageTraceId, report!.RecipientAddress], [row.id, row.recipientAddress]);
      const [sentinel] = formatted('sentinel', [e]);
      assert.equal(sentinel!.TraceEventId, e.traceEventId);
      const [ocsf] = formatted('ocsf', [e]);
      assert.equal((ocsf!.metadata as Record<string, unknown>).correlation_uid, e.traceEventId);
      const [ecs] = formatted('ecs', [e]);
      assert.equal((ecs!.mtc as Record<string, unknown>).trace_event_id, e.traceEventId);
    }
    const trace = sampleEvents()[1]!;
    assert.equal((formatted('ocsf', [trace])[0]!.metadata as Record<string, unknown>).correlation_uid, trace.eventId, 'a trace row correlates with itself');
  });

  it('never maps a detail event as if it were a trace row', () => {
    for (const format of FORMAT_NAMES) {
      for (const [e, out] of sampleDetailEvents().map((e) => [e, formatted(format, [e])[0]!] as const)) {
        assert.ok(isDetailEvent(e));
        const text = JSON.stringify(out);
        assert.ok(!/"Status":|"status_detail":"(Failed|Quarantined|FilteredAsSpam)"|"dataset":"microsoft_exchange_online_message_trace\.log"/.test(text), `${format}: ${text.slice(0, 200)}`);
        assert.ok(text.includes(JSON.stringify(e.detail!.event)), `${format} names the event ${e.detail!.event}`);
      }
    }
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

  it('applies the privacy rules to detail events: their row, the detail\'s Message-ID, and the addresses and IPs their description and data quote', () => {
    const rules = { drop: ['fromIP' as const], hash: ['recipientAddress' as const, 'messageId' as const] };
    const outbound = sampleDetailEvents().filter((e) => e.row.recipientAddress === 'bob@example.org');
    assert.equal(outbound.length, 3);
    const pseudonymOfBob = applyPrivacy(sampleEvents()[1]!, rules, 'key').row.recipientAddress;
    for (const e of outbound) {
      const p = applyPrivacy(e, rules, 'key');
      assert.equal(p.eventId, e.eventId);
      assert.equal(p.traceEventId, e.traceEventId, 'the join to the trace row survives');
      assert.equal(p.row.recipientAddress, pseudonymOfBob);
      assert.equal(p.row.fromIP, undefined);
      assert.equal(p.detail!.messageId, applyPrivacy(sampleEvents()[1]!, rules, 'key').row.messageId, 'the same pseudonym as the row\'s Message-ID');
      const text = `${p.detail!.description} ${p.detail!.data}`;
      assert.ok(!/bob@example\.org/i.test(text), text);
      assert.ok(!text.includes('198.51.100.21') && !text.includes('203.0.113.5'), `the row's IP and every other IP are dropped: ${text}`);
      if (/bob/.test(`${e.detail!.description} ${e.detail!.data}`)) assert.ok(text.includes(pseudonymOfBob), 'the recipient quoted in the text is the row\'s pseudonym, so they still match');
      assert.ok(text.includes('AM0PR04MB7123.eurprd04.prod.outlook.com'), 'server names stay');
      for (const format of FORMAT_NAMES) {
        const out = JSON.stringify(createFormatter({ format, acceptedDomains: ACCEPTED, privacy: rules }, 'key')(e));
        assert.ok(!/bob@example\.org/i.test(out) && !out.includes('198.51.100.21') && !out.includes('203.0.113.5') && !out.includes('<b2@contoso.com>'), `${format} carries no address, IP or Message-ID in clear`);
      }
      assert.ok(!JSON.stringify(toDetailUdm(p)).includes('bob@example.org'));
    }
  });

  it('gives an address the detail quotes that is neither the sender nor the recipient the strictest address rule set', () => {
    const e = sampleDetailEvents().find((x) => x.detail!.event === 'Fail' && x.row.recipientAddress === 'ghost@contoso.com')!;
    const quoting = { ...e, detail: { ...e.detail!, description: 'Forwarded to group all-staff@contoso.com by ghost@contoso.com; sender alerts@fabrikam.com' } };
    const local = applyPrivacy(quoting, { drop: [], hash: ['senderLocalPart'] }, 'key').detail!.description!;
    assert.match(local, /^Forwarded to group [0-9a-f]{32}@contoso\.com by ghost@contoso\.com; sender [0-9a-f]{32}@fabrikam\.com$/, 'the recipient has no rule; the group gets the local-part hash');
    const dropped = applyPrivacy(quoting, { drop: ['recipientAddress'], hash: ['senderAddress'] }, 'key').detail!.description!;
    assert.match(dropped, /^Forwarded to group \[redacted\] by \[redacted\]; sender [0-9a-f]{32}$/, 'drop is stricter than hash');
    assert.equal(applyPrivacy(quoting, { drop: ['subject'], hash: [] }).detail!.description, quoting.detail.description, 'no address rule: addresses stay');
  });
});

describe('infra/modules/logs-ingestion.bicep', () => {
  const bicep = readFileSync(repoPath('infra', 'modules', 'logs-ingestion.bicep'), 'utf8');
  /** The `{ name, type }` entries of one `var <name> = [ … ]` of the module. */
  const columnsOf = (variable: string) => {
    const block = new RegExp(`^var ${variable} = \\[\\n([\\s\\S]*?)^\\]$`, 'm').exec(bicep);
    assert.ok(block, `the module declares var ${variable}`);
    return [...block[1]!.matchAll(/\{ name: '([A-Za-z0-9_]+)', type: '([a-z]+)' \}/g)].map((m) => ({ name: m[1], type: m[2] }));
  };

  it('declares exactly the columns and types of the sentinel format, for trace rows and for detail events', () => {
    assert.deepEqual(columnsOf('columns'), SENTINEL_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
    assert.deepEqual(columnsOf('detailColumns'), SENTINEL_DETAIL_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
    const all = [...bicep.matchAll(/\{ name: '([A-Za-z0-9_]+)', type: '([a-z]+)' \}/g)].length;
    assert.equal(all, SENTINEL_COLUMNS.length + SENTINEL_DETAIL_COLUMNS.length, 'no other column list in the module');
  });
});
