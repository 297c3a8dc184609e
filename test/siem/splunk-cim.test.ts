import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SplunkHecDestinationConfig } from '../../shared/destinations/splunk-hec/config';
import { createDestination } from '../../shared/destinations';
import { makeEvent } from '../../shared/model/row';
import { configOf, ctxOf } from '../destinations/helpers';
import { sampleDetailEvents, sampleEvents, TENANT } from '../destinations/fixtures';
import { secretsOf, startVendorReceiver, type VendorReceiver } from '../destinations/vendor-receiver';
import { parseConf, searchTime, type SplunkApp } from './splunk-conf';

function repoPath(...parts: string[]): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'siem', 'splunk'))) return join(dir, ...parts);
    if (dirname(dir) === dir) throw new Error('repository root not found');
  }
}
const APP = repoPath('siem', 'splunk', 'TA-message-trace-collector', 'default');
const app: SplunkApp = {
  props: parseConf(readFileSync(join(APP, 'props.conf'), 'utf8')),
  eventtypes: parseConf(readFileSync(join(APP, 'eventtypes.conf'), 'utf8')),
  tags: parseConf(readFileSync(join(APP, 'tags.conf'), 'utf8')),
};
const cim = JSON.parse(readFileSync(repoPath('test', 'siem', 'testdata', 'cim-email-fields.json'), 'utf8')) as { tags: Record<string, string>; fields: string[]; prescribed: Record<string, string[]> };
const GOLDEN = repoPath('test', 'siem', 'testdata', 'expected_splunk_cim.json');
const GOLDEN_DETAIL = repoPath('test', 'siem', 'testdata', 'expected_splunk_detail.json');

const receivers: VendorReceiver[] = [];
after(async () => { for (const r of receivers) await r.close(); });

/** What our splunk-hec destination sends with its defaults, as HEC envelopes. */
async function sentByDefault(): Promise<{ sourcetype: string; event: Record<string, unknown> }[]> {
  const r = await startVendorReceiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
  receivers.push(r);
  const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC' }), secretsOf({ HEC: 't' }));
  const spam = makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T14:40:00.000Z', fields: {}, row: { id: '4f1e2d3c-0000-4000-8000-000000000004', senderAddress: 'promo@spam.example', recipientAddress: 'Linus@contoso.com', messageId: '<d4@spam.example>', receivedDateTime: '2026-11-18T14:39:50Z', subject: 'You won', size: 4000, fromIP: '192.0.2.9', toIP: '', status: 'filteredAsSpam' } });
  await d.send([...sampleEvents(), spam], ctxOf());
  return r.requests[0]!.body.split('\n').map((l) => JSON.parse(l) as { sourcetype: string; event: Record<string, unknown> });
}

describe('siem/splunk/TA-message-trace-collector maps our default HEC events to the CIM Email data model', () => {
  it('sends the sourcetype and record of the Splunk Add-on for Microsoft Office 365 message trace input by default', async () => {
    const sent = await sentByDefault();
    assert.ok(sent.every((s) => s.sourcetype === 'ms:o365:reporting:messagetrace'));
    assert.deepEqual(Object.keys(sent[0]!.event).sort(), ['FromIP', 'MessageId', 'MessageTraceId', 'Received', 'RecipientAddress', 'SenderAddress', 'Size', 'Status', 'Subject', 'ToIP']);
  });

  it('gives each event the CIM fields, values and tags of the golden file', async () => {
    const out = (await sentByDefault()).map((s) => {
      const e = searchTime(app, s.sourcetype, s.event);
      const mapped: Record<string, unknown> = {};
      for (const k of Object.keys(e).sort()) if (cim.fields.includes(k) || k === 'eventtype') mapped[k] = e[k];
      return mapped;
    });
    if (process.env.MTC_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, JSON.stringify(out, null, 2) + '\n');
    assert.deepEqual(out, JSON.parse(readFileSync(GOLDEN, 'utf8')));
  });

  it('sets only fields of the data model, prescribed action values, and the dataset tags', async () => {
    for (const s of await sentByDefault()) {
      const e = searchTime(app, s.sourcetype, s.event);
      const added = Object.keys(e).filter((k) => !(k in s.event) && !['sourcetype', 'eventtype', 'tag'].includes(k));
      for (const k of added) assert.ok(cim.fields.includes(k), `${k} is a field of the CIM Email data model`);
      for (const [f, values] of Object.entries(cim.prescribed)) if (e[f] !== undefined) assert.ok(values.includes(String(e[f])), `${f}="${String(e[f])}" is a prescribed value`);
      assert.ok(e.tag.includes(cim.tags.All_Email!) && e.tag.includes(cim.tags.Delivery!), 'All_Email and Delivery');
      const filtered = ['Quarantined', 'FilteredAsSpam'].includes(String(s.event.Status));
      assert.equal(e.tag.includes(cim.tags.Filtering!), filtered, `Filtering only for ${String(s.event.Status)}`);
      assert.equal(e.filter_action !== undefined, filtered);
      for (const f of ['src_user', 'recipient', 'message_id', 'internal_message_id', 'subject', 'action', 'src', 'vendor_product']) assert.ok(e[f] !== undefined || (f === 'action' && s.event.Status === 'Pending'), `${f} is set`);
    }
  });

  it('refuses an eval this test cannot interpret, so the mapping cannot silently go untested', () => {
    const props = parseConf('[x]\nKV_MODE = json\nEVAL-a = replace(b, "c", "d")\n');
    assert.throws(() => searchTime({ props, eventtypes: new Map(), tags: new Map() }, 'x', { b: 'c' }), /replace\(\) is not supported/);
  });
});

/** What the destination sends for detail events with its defaults. */
async function detailsSentByDefault(): Promise<{ sourcetype: string; event: Record<string, unknown> }[]> {
  const r = await startVendorReceiver(() => ({ status: 200, body: { text: 'Success', code: 0 } }));
  receivers.push(r);
  const d = createDestination(configOf<SplunkHecDestinationConfig>({ id: 'splunk', type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC' }), secretsOf({ HEC: 't' }));
  await d.send(sampleDetailEvents(), ctxOf());
  return r.requests[0]!.body.split('\n').map((l) => JSON.parse(l) as { sourcetype: string; event: Record<string, unknown> });
}

/** The fields the add-on gives detail events beyond CIM Email's names (props.conf). */
const DETAIL_EXTRA_FIELDS = ['enhanced_status_code', 'spam_verdict', 'spam_category', 'spam_action'];

describe('siem/splunk/TA-message-trace-collector reads detail events', () => {
  it('gets them under their own sourcetype, as the legacy MessageTraceDetail record', async () => {
    const sent = await detailsSentByDefault();
    assert.ok(sent.every((s) => s.sourcetype === 'ms:o365:reporting:messagetrace:detail'));
    for (const s of sent) for (const k of Object.keys(s.event)) assert.ok(['MessageTraceId', 'MessageId', 'Date', 'Event', 'Action', 'Detail', 'Data', 'SenderAddress', 'RecipientAddress'].includes(k), k);
  });

  it('extracts the SMTP status, the rule and the spam verdict as in the golden file', async () => {
    const out = (await detailsSentByDefault()).map((s) => {
      const e = searchTime(app, s.sourcetype, s.event);
      const mapped: Record<string, unknown> = { Event: s.event.Event };
      for (const k of Object.keys(e).sort()) if (cim.fields.includes(k) || DETAIL_EXTRA_FIELDS.includes(k) || k === 'eventtype') mapped[k] = e[k];
      return mapped;
    });
    if (process.env.MTC_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN_DETAIL, JSON.stringify(out, null, 2) + '\n');
    assert.deepEqual(out, JSON.parse(readFileSync(GOLDEN_DETAIL, 'utf8')));
    const fail = out.find((o) => o.enhanced_status_code === '5.1.10')!;
    assert.deepEqual([fail.status_code, fail.recipient], ['550', 'ghost@contoso.com']);
    const rule = out.find((o) => o.signature)!;
    assert.deepEqual([rule.signature, rule.signature_id], ['Quarantine payroll keywords', '9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e']);
    const phish = out.find((o) => o.filter_score === '9')!;
    assert.deepEqual([phish.spam_verdict, phish.spam_category, phish.spam_action], ['SPM', 'HPHISH', 'SQ']);
    assert.equal(out.find((o) => o.filter_score === '6')!.spam_category, 'SPM', 'from the spam filter agent\'s CustomData');
  });

  it('keeps them out of the CIM Email data model (no tags), with no field beyond CIM Email\'s names and the documented extras', async () => {
    for (const s of await detailsSentByDefault()) {
      const e = searchTime(app, s.sourcetype, s.event);
      assert.deepEqual(e.eventtype, ['ms_o365_message_trace_detail'], 'only the detail eventtype: the trace eventtypes match their sourcetype exactly');
      assert.deepEqual(e.tag, []);
      const added = Object.keys(e).filter((k) => !(k in s.event) && !['sourcetype', 'eventtype', 'tag'].includes(k));
      for (const k of added) assert.ok(cim.fields.includes(k) || DETAIL_EXTRA_FIELDS.includes(k), `${k} is a CIM Email name or a documented extra`);
      for (const f of ['src_user', 'recipient', 'internal_message_id', 'message_info', 'vendor_product']) assert.ok(e[f] !== undefined, `${f} is set`);
    }
  });
});

