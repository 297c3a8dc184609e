/**
 * getDetailsByRecipient answers (reference B.6, simulator/README.md "getDetailsByRecipient"):
 * per status a realistic route with its reasons (NDR codes, transport rules, spam verdicts,
 * quarantine policies), well-formed XML data, deterministic per row, the same over HTTP as the
 * ground truth, times inside [receivedDateTime, now], retention, paging, quoting, and the
 * tenant budget and faults it shares with the list call.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { repoPath } from '../support/testdata';
import type { DetailEvent, Simulator } from '../../simulator/index';
import { DAY, get, getToken, HOUR, startTestSimulator, T0 } from './sim-client';
import { mep, parseMeps, parseStrictXml, XmlError } from './mep-xml';

const B6_FIELDS = ['id', 'messageId', 'dateTime', 'event', 'action', 'description', 'data'];
const LED = /^Reason: \[\{LED=([245]\d\d) ([245]\.\d{1,3}\.\d{1,3}) [^}]+\};\{MSG=[^}]*\};\{FQDN=[^}]*\};\{IP=[^}]*\};\{LRT=\}\]$/;

function detailUrl(sim: Simulator, id: string, recipient: string, version: 'v1.0' | 'beta' = 'v1.0'): string {
  return `${sim.graphBaseUrl}/${version}/admin/exchange/tracing/messageTraces/${id}/getDetailsByRecipient(recipientAddress='${encodeURIComponent(recipient.replace(/'/g, "''"))}')`;
}

const events = (details: DetailEvent[]) => details.map((d) => d.event);
const ms = (iso: string) => Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z'));

/** Invariants of every answer: B.6 fields in order, the trace's id, Receive first at receivedDateTime, times in order and not after asOf, data parses. */
function assertWellFormed(row: { id: string; messageId: string; receivedDateTime: string }, details: DetailEvent[], asOf: number): void {
  assert.ok(details.length >= 1, `${row.id}: no events`);
  assert.equal(details[0]!.event, 'Receive');
  assert.equal(details[0]!.dateTime, row.receivedDateTime);
  let prev = '';
  details.forEach((d, k) => {
    assert.deepEqual(Object.keys(d), B6_FIELDS);
    assert.equal(d.id, row.id);
    assert.equal(d.messageId, row.messageId);
    assert.ok(d.dateTime >= prev, `${row.id}: event ${k} goes back in time`);
    assert.ok(ms(d.dateTime) <= asOf, `${row.id}: event ${k} (${d.dateTime}) is after the clock`);
    prev = d.dateTime;
    assert.equal(mep(d.data, 'SequenceNumber'), String(k));
  });
}

describe('getDetailsByRecipient: a route per status', () => {
  test('every row of six hours explains its status with realistic, varied events and well-formed MEP data', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const rows = sim.groundTruthDetails(tenantId, T0 - 12 * HOUR, T0 - 6 * HOUR);
      assert.ok(rows.length > 10_000, `six hours hold about 12,500 rows, got ${rows.length}`);
      const codes = new Set<string>();
      const rules = new Set<string>();
      const categories = new Set<string>();
      const quarantineBy = new Set<string>();
      const seenStatus = new Set<string>();
      for (const { row, details } of rows) {
        assertWellFormed(row, details, T0);
        for (const d of details) parseMeps(d.data);
        seenStatus.add(row.status);
        const names = events(details);
        const last = details[details.length - 1]!;
        const rule = details.find((d) => d.event === 'Transport rule');
        if (rule) {
          const m = /^Transport rule: '(.+)', ID: \('([0-9a-f-]{36})'\), DLP policy: '', ID: \(00000000-0000-0000-0000-000000000000\)\.$/.exec(rule.description);
          assert.ok(m, rule.description);
          rules.add(m[1]!);
          assert.match(mep(rule.data, 'CustomData')!, new RegExp(`^S:TRA=ETR\\|ruleId=${m[2]}\\|st=[^|]+\\|action=\\w+\\|sev=1\\|mode=Enforce$`));
        }
        const outbound = row.toIP !== '';
        switch (row.status) {
          case 'delivered':
            assert.equal(last.event, outbound ? 'Send external' : 'Deliver', names.join('>'));
            if (!outbound) assert.equal(last.description, 'The message was successfully delivered.');
            else assert.match(last.description, new RegExp(`^Message sent to \\S+ at ${row.toIP.replace(/[.:]/g, '\\$&')} using TLS1\\.2`));
            assert.ok(!names.includes('Fail') && !names.includes('Spam'));
            break;
          case 'failed': {
            assert.equal(last.event, 'Fail', names.join('>'));
            const m = LED.exec(last.description);
            assert.ok(m, last.description);
            codes.add(`${m[1]} ${m[2]}`);
            assert.equal(`Reason: ${mep(last.data, 'RecipientStatus')}`, last.description, 'the status code is in the data too');
            if (m[2] === '5.7.1' && /TRANSPORT\.RULES/.test(last.description)) assert.ok(rule, 'a rule rejection names its rule');
            break;
          }
          case 'quarantined': {
            assert.equal(last.event, 'Deliver');
            assert.equal(last.description, 'The message was successfully delivered to the folder: DefaultFolderType:QuarantinedEmailSecured');
            const verdict = details.find((d) => ['Spam', 'Malware', 'Transport rule'].includes(d.event))!;
            assert.ok(verdict, names.join('>'));
            quarantineBy.add(verdict.event);
            if (verdict.event === 'Spam') {
              assert.equal(verdict.action, 'Quarantine');
              assert.equal(mep(verdict.data, 'DI'), 'SQ');
              assert.match(mep(verdict.data, 'QuarantinePolicy')!, /^(DefaultFullAccessPolicy|AdminOnlyAccessPolicy|DefaultFullAccessWithNotificationPolicy)$/);
              assert.match(mep(verdict.data, 'QuarantineType')!, /^(HighConfPhish|Phish|Spam|Bulk)$/);
            } else if (verdict.event === 'Malware') {
              assert.match(mep(verdict.data, 'CustomData')!, /^S:AMA=SUM\|v=1\|action=b\|error=\|atch=1;S:AMA=EV\|engine=M\|v=1\|sig=[\d.]+\|name=[^|]+\|file=.+$/);
              assert.equal(mep(verdict.data, 'QuarantinePolicy'), 'AdminOnlyAccessPolicy');
            } else {
              assert.match(mep(verdict.data, 'CustomData')!, /\|action=Quarantine\|/);
            }
            break;
          }
          case 'filteredAsSpam': {
            assert.equal(last.event, 'Deliver');
            assert.equal(last.description, 'The message was successfully delivered to the folder: DefaultFolderType:JunkEmail');
            const spam = details.find((d) => d.event === 'Spam')!;
            const scl = Number(mep(spam.data, 'SCL'));
            assert.ok(scl >= 5 && scl <= 9, `SCL ${scl}`);
            assert.equal(spam.description, `Spam confidence level: ${scl}`);
            assert.match(mep(spam.data, 'SFV')!, /^(SPM|SKS)$/);
            assert.equal(mep(spam.data, 'DI'), 'SJ');
            assert.equal(mep(spam.data, 'CIP'), row.fromIP);
            assert.ok(Number(mep(spam.data, 'BCL')) >= 0 && Number(mep(spam.data, 'BCL')) <= 9);
            categories.add(mep(spam.data, 'CAT')!);
            break;
          }
          case 'expanded':
            assert.deepEqual(names.slice(-2), ['Expand', 'Drop']);
            assert.equal(last.description, 'Reason: [{LED=250 2.1.5 RESOLVER.GRP.Expanded; distribution list expanded};{MSG=};{FQDN=};{IP=};{LRT=}]');
            assert.ok(Number(mep(details[details.length - 2]!.data, 'RcptCount')) >= 3);
            break;
          default:
            assert.fail(`unexpected status ${row.status}`);
        }
      }
      assert.deepEqual([...seenStatus].sort(), ['delivered', 'expanded', 'failed', 'filteredAsSpam', 'quarantined']);
      assert.ok(codes.size >= 6, `several NDR codes: ${[...codes].join(', ')}`);
      for (const c of ['550 5.1.10', '550 5.7.1', '554 5.2.2']) assert.ok(codes.has(c), `${c} among ${[...codes].join(', ')}`);
      assert.ok(rules.size >= 5, `several transport rules: ${[...rules].join(' | ')}`);
      assert.ok(categories.size >= 3, `several spam categories: ${[...categories].join(', ')}`);
      assert.deepEqual([...quarantineBy].sort(), ['Malware', 'Spam', 'Transport rule']);
    } finally {
      await sim.stop();
    }
  });

  test('a pending row shows Receive … Defer; once final it keeps those events and adds its last step', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const all = sim.groundTruth(tenantId, T0 - 6 * HOUR, T0 - 2 * HOUR);
      let pendingSeen = 0;
      let gettingSeen = 0;
      for (const row of all) {
        const received = ms(row.receivedDateTime);
        // Ask just after the row became visible: transient rows still show pending / gettingStatus then.
        const early = sim.groundTruth(tenantId, received, received + 1, { asOf: received + 20_000 }).find((r) => r.id === row.id && r.recipientAddress === row.recipientAddress);
        if (!early || (early.status !== 'pending' && early.status !== 'gettingStatus')) continue;
        const before = sim.detailsGroundTruth(tenantId, row, { asOf: received + 20_000 });
        const after = sim.detailsGroundTruth(tenantId, row, { asOf: T0 });
        assertWellFormed(row, before, received + 20_000);
        if (early.status === 'pending') {
          pendingSeen++;
          assert.equal(before[before.length - 1]!.event, 'Defer');
          assert.match(before[before.length - 1]!.description, /^Reason: \[\{LED=4\d\d 4\.\d\.\d{1,3} /);
        } else {
          gettingSeen++;
          assert.ok(events(before).every((e) => e === 'Receive' || e === 'Submit'), events(before).join('>'));
        }
        assert.ok(after.length > before.length, `${row.status}: the final route adds a step`);
        assert.deepEqual(after.slice(0, before.length).map((d) => [d.event, d.description, d.data]), before.map((d) => [d.event, d.description, d.data]));
        // The final step is at the moment the status became final, after the transient phase.
        assert.ok(ms(after[after.length - 1]!.dateTime) >= received + 30_000, 'transient for at least transient.minDelayMs');
      }
      assert.ok(pendingSeen >= 5 && gettingSeen >= 5, `pending ${pendingSeen}, gettingStatus ${gettingSeen}`);
    } finally {
      await sim.stop();
    }
  });

  test('an outbound pending row that fails ends with 550 4.4.7 QUEUE.Expired after its Defer', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const rows = sim.groundTruthDetails(tenantId, T0 - 2 * DAY, T0 - DAY, { statuses: ['failed'] })
        .filter((r) => events(r.details).includes('Defer') && r.row.toIP !== '');
      assert.ok(rows.length >= 1, 'two days hold such a row');
      for (const { details } of rows) {
        assert.deepEqual(events(details), ['Receive', 'Submit', 'Defer', 'Fail']);
        assert.match(details[2]!.description, /LED=45[01] 4\.4\.31[67] /);
        assert.match(details[3]!.description, /^Reason: \[\{LED=550 4\.4\.7 QUEUE\.Expired; message expired\}/);
      }
    } finally {
      await sim.stop();
    }
  });
});

describe('getDetailsByRecipient over HTTP', () => {
  test('answers exactly the ground truth for rows of every status, in v1.0 and in beta', async () => {
    const { sim, tenantId } = await startTestSimulator({ throttle: { limit: 1000, windowMs: 300_000 } });
    try {
      const token = await getToken(sim);
      const rows = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR);
      const sample = ['delivered', 'failed', 'quarantined', 'filteredAsSpam', 'expanded'].flatMap((s) => rows.filter((r) => r.status === s).slice(0, 6));
      assert.equal(sample.length, 30);
      for (const row of sample) {
        const v1 = await get(detailUrl(sim, row.id, row.recipientAddress), token);
        assert.equal(v1.status, 200, v1.text);
        assert.equal(v1.json['@odata.context'], `${sim.graphBaseUrl}/v1.0/$metadata#Collection(microsoft.graph.exchangeMessageTraceDetail)`);
        assert.equal(v1.json['@odata.nextLink'], undefined, 'no paging by default');
        assert.deepEqual(v1.json.value, sim.detailsGroundTruth(tenantId, row));
        const beta = await get(detailUrl(sim, row.id, row.recipientAddress, 'beta'), token);
        assert.equal(beta.json['@odata.context'], undefined, 'the beta example has no @odata.context');
        assert.deepEqual(beta.json.value, sim.detailsGroundTruth(tenantId, row, { version: 'beta' }));
        for (const [k, e] of (beta.json.value as DetailEvent[]).entries()) {
          assert.deepEqual(Object.keys(e), ['@odata.type', ...B6_FIELDS]);
          assert.equal(e['@odata.type'], '#microsoft.graph.exchangeMessageTraceDetail');
          const { '@odata.type': _type, ...rest } = e;
          assert.deepEqual(rest, v1.json.value[k]);
        }
      }
    } finally {
      await sim.stop();
    }
  });

  test('two simulators with the same seed give every row the same details; another seed differs', async () => {
    const a = await startTestSimulator({ seed: 7 });
    const b = await startTestSimulator({ seed: 7 });
    const c = await startTestSimulator({ seed: 8 });
    try {
      const window = [T0 - 3 * HOUR, T0 - 2 * HOUR] as const;
      const da = a.sim.groundTruthDetails(a.tenantId, ...window);
      assert.deepEqual(b.sim.groundTruthDetails(b.tenantId, ...window), da);
      // Generated in another order (an old bucket first), the details are still the same.
      b.sim.groundTruthDetails(b.tenantId, T0 - 40 * DAY, T0 - 40 * DAY + HOUR);
      const failed = da.filter((r) => r.row.status === 'failed').slice(0, 5);
      for (const r of failed) assert.deepEqual(b.sim.detailsGroundTruth(b.tenantId, r.row), r.details);
      // And over the wire.
      const row = failed[0]!.row;
      const [ra, rb] = [await get(detailUrl(a.sim, row.id, row.recipientAddress), await getToken(a.sim)), await get(detailUrl(b.sim, row.id, row.recipientAddress), await getToken(b.sim))];
      assert.deepEqual(ra.json.value, rb.json.value);
      const dc = c.sim.groundTruthDetails(c.tenantId, ...window);
      assert.notDeepEqual(dc.map((r) => r.details.map((d) => d.description)), da.map((r) => r.details.map((d) => d.description)));
    } finally {
      await Promise.all([a.sim.stop(), b.sim.stop(), c.sim.stop()]);
    }
  });

  test('the same row asked again later gets the same details (nothing depends on the request)', async () => {
    const { sim, clock, tenantId } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const row = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR).find((r) => r.status === 'quarantined')!;
      const first = await get(detailUrl(sim, row.id, row.recipientAddress), token);
      clock.advance(3 * DAY);
      const later = await get(detailUrl(sim, row.id, row.recipientAddress), await getToken(sim));
      assert.deepEqual(later.json.value, first.json.value);
    } finally {
      await sim.stop();
    }
  });
});

describe('getDetailsByRecipient: times, retention, paging, quoting', () => {
  test('events of a row received a moment ago are never in the future of the clock, and settle to their planned times', async () => {
    const { sim, clock, tenantId } = await startTestSimulator();
    try {
      const at = new Date(T0 - 200).toISOString().replace('Z', '0000Z');
      sim.injectRows(tenantId, [{ receivedDateTime: at, recipientAddress: 'fresh@contoso.com', status: 'failed' }]);
      const row = sim.groundTruth(tenantId, T0 - 1000, T0 + 1).find((r) => r.recipientAddress === 'fresh@contoso.com')!;
      const now = sim.detailsGroundTruth(tenantId, row);
      assertWellFormed(row, now, T0);
      assert.ok(now.length >= 3 && events(now).at(-1) === 'Fail', events(now).join('>'));
      assert.ok(now.slice(1).every((d) => ms(d.dateTime) === T0), 'steps planned after now are held at now');
      clock.advance(60_000);
      const settled = sim.detailsGroundTruth(tenantId, row);
      assert.ok(ms(settled.at(-1)!.dateTime) > T0, 'later the planned times show');
      assert.deepEqual(settled.map((d) => d.event), now.map((d) => d.event));
      clock.advance(DAY);
      assert.deepEqual(sim.detailsGroundTruth(tenantId, row), settled, 'and stay');
    } finally {
      await sim.stop();
    }
  });

  test('a row older than the detail retention answers {"value":[]} (default 90 days), or a 400 when configured', async () => {
    const old = new Date(T0 - 89 * DAY).toISOString();
    for (const [options, beyond] of [[{}, 'empty'], [{ graph: { detailBeyondRetention: 'badRequest' as const } }, 'badRequest']] as const) {
      const { sim, clock, tenantId } = await startTestSimulator(options);
      try {
        sim.injectRows(tenantId, [{ receivedDateTime: old, recipientAddress: 'archive@contoso.com', status: 'quarantined' }]);
        const row = sim.groundTruth(tenantId, T0 - 90 * DAY, T0 - 88 * DAY).find((r) => r.recipientAddress === 'archive@contoso.com')!;
        const url = detailUrl(sim, row.id, row.recipientAddress);
        const inside = await get(url, await getToken(sim));
        assert.equal(inside.status, 200);
        assert.ok(inside.json.value.length >= 3, 'at 89 days the row still has its details');
        clock.advance(DAY + 1);
        const beyondAnswer = await get(url, await getToken(sim));
        if (beyond === 'empty') {
          assert.equal(beyondAnswer.status, 200);
          assert.deepEqual(beyondAnswer.json, { value: [] });
        } else {
          assert.equal(beyondAnswer.status, 400);
          assert.equal(beyondAnswer.json.error.code, 'BadRequest');
          assert.equal(beyondAnswer.json.error.message, "Invalid StartDate value. The StartDate can't be older than 90 days from today.");
        }
        assert.deepEqual(sim.detailsGroundTruth(tenantId, row), []);
      } finally {
        await sim.stop();
      }
    }
  });

  test('graph.detailRetentionDays 2 keeps details for two days only', async () => {
    const { sim, tenantId } = await startTestSimulator({ graph: { detailRetentionDays: 2 } });
    try {
      const token = await getToken(sim);
      const [young] = sim.groundTruth(tenantId, T0 - 47 * HOUR, T0 - 46 * HOUR);
      const [aged] = sim.groundTruth(tenantId, T0 - 50 * HOUR, T0 - 49 * HOUR);
      assert.ok((await get(detailUrl(sim, young!.id, young!.recipientAddress), token)).json.value.length >= 2);
      assert.deepEqual((await get(detailUrl(sim, aged!.id, aged!.recipientAddress), token)).json, { value: [] });
    } finally {
      await sim.stop();
    }
  });

  test('with graph.detailPageSize the answer is paged by @odata.nextLink, every page costs a request, and the pages add up to the ground truth', async () => {
    const { sim, tenantId } = await startTestSimulator({ graph: { detailPageSize: 1 } });
    try {
      const token = await getToken(sim);
      const rows = sim.groundTruthDetails(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR, { statuses: ['filteredAsSpam'] });
      const { row, details } = rows.find((r) => r.details.length >= 4)!;
      let url: string | undefined = detailUrl(sim, row.id, row.recipientAddress);
      const served: DetailEvent[] = [];
      let pages = 0;
      const before = sim.stats(tenantId).detailRequests;
      while (url) {
        const r = await get(url, token);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.value.length, 1);
        served.push(...r.json.value);
        url = r.json['@odata.nextLink'];
        if (url) assert.ok(url.startsWith(`${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces/${row.id}/getDetailsByRecipient(`), url);
        pages++;
      }
      assert.equal(pages, details.length);
      assert.deepEqual(served, details);
      assert.equal(sim.stats(tenantId).detailRequests - before, pages);
      const bad = await get(`${detailUrl(sim, row.id, row.recipientAddress)}?$skiptoken=bm90LWEtdG9rZW4`, token);
      assert.equal(bad.status, 400);
      assert.match(bad.json.error.message, /\$skiptoken is not valid/);
    } finally {
      await sim.stop();
    }
  });

  test('a recipient with a quote is written with two quotes; a lone quote is not a valid function parameter; the XML data escapes what it carries', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const sender = `"o'brien"&<co>@contoso.com`;
      sim.injectRows(tenantId, [{ receivedDateTime: new Date(T0 - HOUR).toISOString(), recipientAddress: "o'neil@contoso.com", senderAddress: sender, status: 'failed' }]);
      const row = sim.groundTruth(tenantId, T0 - HOUR, T0 - HOUR + 1).find((r) => r.recipientAddress === "o'neil@contoso.com")!;
      const base = `${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces/${row.id}/getDetailsByRecipient`;
      const doubled = await get(`${base}(recipientAddress='o''neil@contoso.com')`, token);
      assert.equal(doubled.status, 200, doubled.text);
      assert.deepEqual(doubled.json.value, sim.detailsGroundTruth(tenantId, row));
      const encoded = await get(`${base}(recipientAddress=%27O%27%27Neil%40contoso.com%27)`, token);
      assert.deepEqual(encoded.json.value, doubled.json.value, 'percent-encoded and upper case is the same recipient');
      const lone = await get(`${base}(recipientAddress='o'neil@contoso.com')`, token);
      assert.equal(lone.status, 400);
      const receive = doubled.json.value[0] as DetailEvent;
      assert.ok(receive.data.includes('String="&quot;o\'brien&quot;&amp;&lt;co&gt;@contoso.com"'), receive.data);
      assert.equal(mep(receive.data, 'ReturnPath'), sender);
    } finally {
      await sim.stop();
    }
  });

  test('the strict XML check rejects blobs a lenient parser would accept', () => {
    for (const bad of [
      '<root><MEP Name="a" String="x & y" /></root>',
      '<root><MEP Name="a" String="x < y" /></root>',
      '<root><MEP Name="a" Name="b" /></root>',
      '<root><MEP Name="a" String="&bogus;" /></root>',
      '<root><MEP Name="a" String="x" />',
      '<root/><root/>',
      '<root>text<MEP Name="a" String="x" /></root>',
      '<root><MEP Name=a String="x" /></root>',
      '<root><MEP Name="a"String="x" /></root>',
    ]) assert.throws(() => parseStrictXml(bad), XmlError, bad);
    assert.throws(() => parseMeps('<root><MEP Name="a" Integer="1.5" /></root>'), XmlError);
    assert.throws(() => parseMeps('<root><MEP Name="a" String="x" Long="1" /></root>'), XmlError);
    assert.deepEqual(parseMeps('<root><MEP Name="a" String="&quot;x&quot; &amp; &#60;y&#x3e;" /><MEP Name="n" Long="-3" /></root>'),
      [{ name: 'a', type: 'String', value: '"x" & <y>' }, { name: 'n', type: 'Long', value: '-3' }]);
  });
});

describe('getDetailsByRecipient golden answers', () => {
  const GOLDEN = repoPath('test', 'simulator', 'testdata', 'expected_details_seed1.json');

  test('seed 1 gives the answers recorded in testdata/expected_details_seed1.json (one row per status; MTC_UPDATE_GOLDEN=1 rewrites it)', async () => {
    const { sim, tenantId } = await startTestSimulator({ seed: 1 });
    try {
      const rows = sim.groundTruthDetails(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR);
      const first = (status: string, has: (d: DetailEvent[]) => boolean) => rows.find((r) => r.row.status === status && has(r.details))!;
      const picked = {
        delivered: first('delivered', (d) => events(d).includes('Transport rule')),
        deliveredOutbound: first('delivered', (d) => events(d).includes('Send external')),
        failed: first('failed', (d) => events(d).includes('Transport rule')),
        failedRemote: first('failed', (d) => events(d).includes('Send external')),
        quarantined: first('quarantined', (d) => events(d).includes('Spam')),
        quarantinedMalware: first('quarantined', (d) => events(d).includes('Malware')),
        filteredAsSpam: first('filteredAsSpam', (d) => d.length === 3),
        expanded: first('expanded', () => true),
      };
      const out: Record<string, unknown> = {};
      for (const [name, { row, details }] of Object.entries(picked)) {
        out[name] = { row: { id: row.id, recipientAddress: row.recipientAddress, status: row.status, receivedDateTime: row.receivedDateTime, toIP: row.toIP }, asOf: new Date(T0).toISOString(), value: details };
      }
      // A pending row, asked 20 s after it was received (while its delivery is deferred).
      for (const row of sim.groundTruth(tenantId, T0 - 3 * HOUR, T0 - 2 * HOUR)) {
        const asOf = ms(row.receivedDateTime) + 20_000;
        const early = sim.groundTruth(tenantId, asOf - 20_000, asOf - 19_999, { asOf }).find((r) => r.id === row.id && r.recipientAddress === row.recipientAddress);
        if (early?.status !== 'pending') continue;
        out.pending = { row: { id: row.id, recipientAddress: row.recipientAddress, status: 'pending', receivedDateTime: row.receivedDateTime, toIP: row.toIP }, asOf: new Date(asOf).toISOString(), value: sim.detailsGroundTruth(tenantId, row, { asOf }) };
        break;
      }
      if (process.env.MTC_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, JSON.stringify(out, null, 2) + '\n');
      assert.deepEqual(out, JSON.parse(readFileSync(GOLDEN, 'utf8')));
    } finally {
      await sim.stop();
    }
  });
});

describe('getDetailsByRecipient at scale', () => {
  test('a member of a 100,000-recipient distribution list (10x a large real list) gets its details in one request, RcptCount 100000', async () => {
    const at = new Date(T0 - 2 * HOUR).toISOString();
    const { sim, tenantId } = await startTestSimulator({ tenants: [{ traffic: { distributionLists: { at: [{ at, recipients: 100_000 }] } } }] });
    try {
      const token = await getToken(sim);
      const members = sim.groundTruth(tenantId, T0 - 2 * HOUR, T0 - 2 * HOUR + 1);
      assert.equal(members.length, 100_000);
      const row = members[77_777]!;
      const started = performance.now();
      const r = await get(detailUrl(sim, row.id, row.recipientAddress), token);
      const took = performance.now() - started;
      assert.equal(r.status, 200);
      const submit = (r.json.value as DetailEvent[]).find((d) => d.event === 'Submit')!;
      assert.equal(mep(submit.data, 'RcptCount'), '100000');
      assert.ok(took < 2_000, `one detail call took ${Math.round(took)} ms`);
    } finally {
      await sim.stop();
    }
  });
});

describe('getDetailsByRecipient: configurable shapes (UNCONFIRMED points)', () => {
  test("detailSpamData 'customData' puts the verdict in one S:SFA blob; detailQuarantine 'quarantineEvent' ends with a Quarantine event naming type and policy", async () => {
    const { sim, tenantId } = await startTestSimulator({ graph: { detailSpamData: 'customData', detailQuarantine: 'quarantineEvent', detailEventNames: { spam: 'Spam Diagnostics' } } });
    try {
      const rows = sim.groundTruthDetails(tenantId, T0 - 8 * HOUR, T0 - 4 * HOUR, { statuses: ['quarantined', 'filteredAsSpam'] });
      let spam = 0;
      for (const { row, details } of rows) {
        const verdict = details.find((d) => d.event === 'Spam Diagnostics');
        if (verdict) {
          spam++;
          const blob = mep(verdict.data, 'CustomData')!;
          assert.match(blob, /^S:SFA=SUM\|SFV=(SPM|SKS)\|IPV=NLI\|SRV=(BULK)?\|SFS=\d+\|SCL=[5-9]\|SCORE=-1\|LIST=0\|DI=(SQ|SJ)\|CAT=[A-Z]+\|BCL=\d\|H=[^|]+\|CIP=[^|]+\|/);
          assert.equal(mep(verdict.data, 'SCL'), undefined, 'no separate SCL field in this shape');
        }
        if (row.status === 'quarantined') {
          const last = details.at(-1)!;
          assert.equal(last.event, 'Quarantine');
          assert.match(last.description, /^The message was quarantined\. Quarantine type: (HighConfPhish|Phish|Spam|Bulk|Malware|TransportRule)\. Quarantine policy: \w+\.$/);
          assert.equal(mep(last.data, 'QuarantineType'), /type: (\w+)/.exec(last.description)![1]);
        }
      }
      assert.ok(spam > 50, `${spam} verdicts`);
    } finally {
      await sim.stop();
    }
  });

  test('bad detail options are rejected with an error naming them', async () => {
    await assert.rejects(startTestSimulator({ graph: { detailPageSize: -1 } }), /graph\.detailPageSize/);
    await assert.rejects(startTestSimulator({ graph: { detailRetentionDays: 0 } }), /graph\.detailRetentionDays/);
    await assert.rejects(startTestSimulator({ graph: { detailEventNames: { spam: '' } } }), /graph\.detailEventNames\.spam/);
    await assert.rejects(startTestSimulator({ graph: { detailEventNames: { spamm: 'x' } as never } }), /graph\.detailEventNames\.spamm/);
  });
});

describe('getDetailsByRecipient shares the tenant budget and the detail faults', () => {
  test('list and detail calls draw on one budget of 100 per 5 minutes; the 101st is a 429 whichever it is', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const rows = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR).filter((r) => r.status === 'failed');
      const list = `${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces?$top=1`;
      for (let i = 0; i < 100; i++) {
        const r = await get(i % 2 ? list : detailUrl(sim, rows[i % rows.length]!.id, rows[i % rows.length]!.recipientAddress), token);
        assert.equal(r.status, 200, `request ${i + 1}`);
      }
      const detail = await get(detailUrl(sim, rows[0]!.id, rows[0]!.recipientAddress), token);
      assert.equal(detail.status, 429);
      assert.ok(Number(detail.headers.get('retry-after')) > 0);
      assert.equal((await get(list, token)).status, 429);
      const s = sim.stats(tenantId);
      assert.equal(s.detailRequests, 51);
      assert.equal(s.listRequests, 51);
      assert.equal(s.throttled, 2);
    } finally {
      await sim.stop();
    }
  });

  test("faults matched to api 'detail' hit detail calls only: a 503 with Retry-After, then a truncated body", async () => {
    const { sim, tenantId } = await startTestSimulator({ faults: [{ kind: '503', count: 1, match: { api: 'detail' }, retryAfterSec: 7 }, { kind: 'truncated', count: 1, match: { api: 'detail' } }] });
    try {
      const token = await getToken(sim);
      const row = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR).find((r) => r.status === 'quarantined')!;
      assert.equal((await get(`${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces?$top=1`, token)).status, 200);
      const unavailable = await get(detailUrl(sim, row.id, row.recipientAddress), token);
      assert.equal(unavailable.status, 503);
      assert.equal(unavailable.headers.get('retry-after'), '7');
      const truncated = await get(detailUrl(sim, row.id, row.recipientAddress), token);
      assert.equal(truncated.status, 200);
      assert.equal(truncated.json, undefined, 'half a JSON body does not parse');
      const whole = await get(detailUrl(sim, row.id, row.recipientAddress), token);
      assert.deepEqual(whole.json.value, sim.detailsGroundTruth(tenantId, row));
      assert.deepEqual(sim.stats(tenantId).faultsInjected, { 503: 1, truncated: 1 });
    } finally {
      await sim.stop();
    }
  });
});
