/**
 * Graph list messageTraces against reference /work/shared/reference/message-trace-api.md
 * sections B.3 (request), B.4 (paging), B.5 (response shape) and F (checklist).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSkipToken, type Simulator } from '../../simulator/index';
import type { ManualClock } from '../../shared/time/clock';
import { DAY, get, getToken, graphListUrl, HOUR, readAllPages, startTestSimulator, T0, uniqueKeys, windowFilter } from './sim-client';

describe('Graph messageTraces paging (B.4)', () => {
  for (const boundaryRepeats of ['sameTimestamp', 'lastRow', 'none'] as const) {
    test(`following nextLink to the end returns exactly the ground truth once repeats are removed (boundaryRepeats=${boundaryRepeats})`, async () => {
      const { sim, tenantId } = await startTestSimulator({ graph: { boundaryRepeats } });
      try {
        const token = await getToken(sim);
        const start = T0 - 10 * HOUR;
        const end = T0 - 4 * HOUR;
        const { rows, pages } = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=500`), token);
        const truth = sim.groundTruth(tenantId, start, end);
        assert.ok(pages > 5, `expected several pages, got ${pages}`);
        const keys = uniqueKeys(rows);
        assert.deepEqual(keys, uniqueKeys(truth));
        if (boundaryRepeats === 'none') assert.equal(rows.length, truth.length);
        else assert.ok(rows.length > truth.length, 'rows at page boundaries repeat');
        if (boundaryRepeats === 'lastRow') assert.equal(rows.length - truth.length, pages - 1, 'exactly one repeated row per continuation');
      } finally {
        await sim.stop();
      }
    });
  }

  test('nextLink is absolute, repeats $filter and $top, and carries a base64-JSON skiptoken narrowed to the last row (B.4)', async () => {
    const { sim } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const filter = windowFilter(T0 - 5 * HOUR, T0 - 4 * HOUR);
      const r = await get(graphListUrl(sim, `${filter}&$top=100`), token);
      assert.equal(r.status, 200);
      const next = new URL(r.json['@odata.nextLink']);
      assert.equal(next.origin, sim.baseUrl);
      assert.equal(next.searchParams.get('$top'), '100');
      assert.equal(`$filter=${encodeURIComponent(next.searchParams.get('$filter')!)}`, filter);
      const skip = decodeSkipToken(next.searchParams.get('$skiptoken')!)!;
      const last = r.json.value[r.json.value.length - 1];
      assert.equal(skip.EndDate, last.receivedDateTime);
      assert.equal(skip.StartingRecipientAddress, last.recipientAddress);
      assert.equal(skip.ResultSize, '100');
      assert.equal(skip.StartDate, new Date(T0 - 5 * HOUR).toISOString().replace('Z', '0000Z'));
    } finally {
      await sim.stop();
    }
  });

  test('paging terminates without losing rows when one timestamp holds more rows than $top (guard)', async () => {
    const { sim, tenantId } = await startTestSimulator({
      graph: { receivedPrecision: 'seconds', boundaryRepeats: 'sameTimestamp' },
      tenants: [{ rowsPerDay: 20_000, traffic: { recipientsPerMessage: { single: 0, few: 0, many: 1, fewMax: 10, manyMin: 20, manyMax: 40 } } }],
    });
    try {
      const token = await getToken(sim);
      const start = T0 - 6 * HOUR;
      const end = start + 20 * 60_000;
      const { rows } = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=7`), token);
      assert.deepEqual(uniqueKeys(rows), uniqueKeys(sim.groundTruth(tenantId, start, end)));
    } finally {
      await sim.stop();
    }
  });

  test('$top=1 with boundaryRepeats=lastRow still reaches the end (guard)', async () => {
    const { sim, tenantId } = await startTestSimulator({ graph: { boundaryRepeats: 'lastRow' }, tenants: [{ rowsPerDay: 5_000 }] });
    try {
      const token = await getToken(sim);
      const start = T0 - 6 * HOUR;
      const end = start + 15 * 60_000;
      const { rows } = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=1`), token);
      assert.deepEqual(uniqueKeys(rows), uniqueKeys(sim.groundTruth(tenantId, start, end)));
    } finally {
      await sim.stop();
    }
  });
});

describe('Graph messageTraces request validation (B.3)', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    ({ sim } = await startTestSimulator({ throttle: { limit: 10_000, windowMs: 300_000 } }));
    token = await getToken(sim);
  });
  after(() => sim.stop());

  const iso = (ms: number) => new Date(ms).toISOString();
  const expect400 = async (query: string, message: string) => {
    const r = await get(graphListUrl(sim, query), token);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'BadRequest');
    assert.equal(r.json.error.message, message);
    assert.ok(r.json.error.innerError['request-id']);
    assert.match(r.json.error.innerError.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  };

  test('a start without an end is rejected with "EndDate is required when a StartDate is entered."', () =>
    expect400(`$filter=${encodeURIComponent(`receivedDateTime ge ${iso(T0 - DAY)}`)}`, 'EndDate is required when a StartDate is entered.'));

  test('a window longer than 10 days is rejected with the exact text', () =>
    expect400(`$filter=${encodeURIComponent(`receivedDateTime ge ${iso(T0 - 11 * DAY)} and receivedDateTime le ${iso(T0 - DAY / 2)}`)}`,
      "The interval between StartDate and EndDate can't be longer than 10 days."));

  test('a start older than 90 days is rejected with the exact text', () =>
    expect400(`$filter=${encodeURIComponent(`receivedDateTime ge ${iso(T0 - 91 * DAY)} and receivedDateTime le ${iso(T0 - 85 * DAY)}`)}`,
      "Invalid StartDate value. The StartDate can't be older than 90 days from today."));

  test('an end after now is rejected', async () => {
    const r = await get(graphListUrl(sim, `$filter=${encodeURIComponent(`receivedDateTime ge ${iso(T0 - DAY)} and receivedDateTime le ${iso(T0 + 60_000)}`)}`), token);
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /EndDate/);
  });

  test('$top outside 1..5000 is rejected and 5000 is accepted', async () => {
    for (const top of ['0', '5001', 'abc']) {
      const r = await get(graphListUrl(sim, `$top=${top}`), token);
      assert.equal(r.status, 400, `$top=${top}`);
      assert.match(r.json.error.message, /\$top/);
    }
    assert.equal((await get(graphListUrl(sim, '$top=5000'), token)).status, 200);
  });

  test('an unknown property in $filter is a 400 naming it', async () => {
    const r = await get(graphListUrl(sim, `$filter=${encodeURIComponent("color eq 'red'")}`), token);
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /'color'/);
  });

  test('literals with and without fractional seconds are both accepted', async () => {
    for (const [s, e] of [['2026-02-28T00:00:00Z', '2026-02-28T01:00:00Z'], ['2026-02-28T00:00:00.000Z', '2026-02-28T01:00:00.0000000Z']]) {
      const r = await get(graphListUrl(sim, `$filter=${encodeURIComponent(`receivedDateTime ge ${s} and receivedDateTime le ${e}`)}`), token);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.value.length > 0);
    }
    const rawPlus = await get(graphListUrl(sim, '$filter=receivedDateTime ge 2026-02-28T01:00:00+01:00 and receivedDateTime le 2026-02-28T00:30:00Z'), token);
    assert.equal(rawPlus.status, 200, rawPlus.text);
    assert.ok(rawPlus.json.value.every((v: { receivedDateTime: string }) => v.receivedDateTime >= '2026-02-28T00:00:00' && v.receivedDateTime <= '2026-02-28T00:30:00'));
  });
});

describe('Graph messageTraces results (B.3, B.5)', () => {
  let sim: Simulator;
  let clock: ManualClock;
  let tenantId: string;
  let token: string;
  before(async () => {
    ({ sim, clock, tenantId } = await startTestSimulator({ throttle: { limit: 10_000, windowMs: 300_000 } }));
    token = await getToken(sim);
  });
  after(() => sim.stop());

  test('no $filter returns the newest 1000 rows of the previous 48 hours with a nextLink (B.3 default)', async () => {
    const r = await get(graphListUrl(sim, ''), token);
    assert.equal(r.status, 200);
    assert.equal(r.json.value.length, 1000);
    assert.ok(r.json['@odata.nextLink']);
    const times = r.json.value.map((v: { receivedDateTime: string }) => Date.parse(v.receivedDateTime));
    assert.ok(times.every((t: number) => t <= clock.now() && t >= clock.now() - 48 * HOUR));
    assert.deepEqual([...times].sort((a, b) => b - a), times, 'newest first');
    assert.equal(r.json['@odata.context'], `${sim.baseUrl}/v1.0/$metadata#admin/exchange/tracing/messageTraces`);
  });

  test('rows carry the v1.0 fields; the id is shared by the recipients of one message and toIP is "" for inbound', async () => {
    const rows = sim.groundTruth(tenantId, T0 - 12 * HOUR, T0 - 6 * HOUR);
    const byId = new Map<string, number>();
    for (const r of rows) byId.set(r.id, (byId.get(r.id) ?? 0) + 1);
    assert.ok([...byId.values()].some((n) => n > 1), 'some messages have several recipients');
    const r = await get(graphListUrl(sim, `${windowFilter(T0 - 7 * HOUR, T0 - 6 * HOUR)}&$top=50`), token);
    for (const row of r.json.value) {
      assert.deepEqual(Object.keys(row).sort(), ['fromIP', 'id', 'messageId', 'receivedDateTime', 'recipientAddress', 'senderAddress', 'size', 'status', 'subject', 'toIP']);
      assert.match(row.receivedDateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
      assert.match(row.status, /^[a-z][A-Za-z]+$/);
    }
    const accepted = ['contoso.com', 'contoso.onmicrosoft.com'];
    const inbound = rows.filter((x) => !accepted.includes(x.senderAddress.split('@')[1]!));
    assert.ok(inbound.length > 0 && inbound.every((x) => x.toIP === ''));
    assert.ok(rows.some((x) => x.toIP !== ''), 'outbound rows have a toIP');
    assert.ok(rows.some((x) => x.fromIP.includes(':')), 'some fromIP are IPv6');
  });

  test('beta returns PascalCase status and @odata.type on each item (B.5)', async () => {
    const r = await get(graphListUrl(sim, `${windowFilter(T0 - 7 * HOUR, T0 - 6 * HOUR)}&$top=20`, 'beta'), token);
    assert.equal(r.status, 200);
    for (const row of r.json.value) {
      assert.equal(row['@odata.type'], '#microsoft.graph.exchangeMessageTrace');
      assert.match(row.status, /^[A-Z]/);
    }
    assert.match(r.json['@odata.nextLink'], /\/beta\/admin\/exchange\/tracing\/messageTraces\?/);
  });

  test('eq filters match addresses case-insensitively and honour only the last value per property (B.3 quirks)', async () => {
    const rows = sim.groundTruth(tenantId, T0 - 8 * HOUR, T0 - 6 * HOUR);
    const target = rows[0]!.recipientAddress;
    const other = rows.find((x) => x.recipientAddress !== target)!.recipientAddress;
    const expected = rows.filter((x) => x.recipientAddress === target).length;
    const base = `receivedDateTime ge ${new Date(T0 - 8 * HOUR).toISOString()} and receivedDateTime le ${new Date(T0 - 6 * HOUR - 1).toISOString()}`;
    const q = (f: string) => get(graphListUrl(sim, `$filter=${encodeURIComponent(f)}`), token);
    const upper = await q(`${base} and recipientAddress eq '${target.toUpperCase()}'`);
    assert.equal(upper.json.value.length, expected);
    const orred = await q(`${base} and (recipientAddress eq '${other}' or recipientAddress eq '${target}')`);
    assert.equal(orred.json.value.length, expected, 'or is ignored and the last value wins');
    const status = await q(`${base} and status eq 'filteredAsSpam'`);
    assert.ok(status.json.value.length > 0 && status.json.value.every((v: { status: string }) => v.status === 'filteredAsSpam'));
  });

  test("subject contains/startsWith/endsWith work, with '' escaping a quote", async () => {
    const base = `receivedDateTime ge ${new Date(T0 - 30 * HOUR).toISOString()} and receivedDateTime le ${new Date(T0 - 6 * HOUR).toISOString()}`;
    const truth = sim.groundTruth(tenantId, T0 - 30 * HOUR, T0 - 6 * HOUR + 1).filter((x) => x.subject.includes("O'Brien's"));
    const r = await get(graphListUrl(sim, `$filter=${encodeURIComponent(`${base} and contains(subject, 'o''brien''s')`)}&$top=5000`), token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.value.length, truth.length);
    const s = await get(graphListUrl(sim, `$filter=${encodeURIComponent(`${base} and startsWith(subject, 'Rechnung')`)}&$top=5`), token);
    assert.ok(s.json.value.length > 0 && s.json.value.every((v: { subject: string }) => v.subject.startsWith('Rechnung für')));
    const e = await get(graphListUrl(sim, `$filter=${encodeURIComponent(`${base} and endsWith(subject, '10:00')`)}&$top=5`), token);
    assert.ok(e.json.value.length > 0 && e.json.value.every((v: { subject: string }) => v.subject === '会议邀请: 周一 10:00'));
  });
});

describe('Graph late rows and status changes (A.7, F latency model)', () => {
  test('a row appears only after its visibility delay, and pending rows later show their final status', async () => {
    const { sim, clock, tenantId } = await startTestSimulator({
      tenants: [{
        rowsPerDay: 20_000,
        traffic: { visibilityDelay: { minMs: 0, maxMs: 6 * HOUR, distribution: 'uniform' }, transient: { fraction: 0.5, minDelayMs: 60_000, maxDelayMs: HOUR } },
      }],
    });
    try {
      const token = await getToken(sim);
      const start = T0 - HOUR;
      const end = T0 - 30 * 60_000;
      const visibleNow = sim.countGroundTruth(tenantId, start, end);
      const all = sim.countGroundTruth(tenantId, start, end, { onlyVisible: false });
      assert.ok(visibleNow < all, 'some rows are not visible yet');
      const first = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=5000`), token);
      assert.equal(uniqueKeys(first.rows).size, visibleNow);
      const pendingBefore = first.rows.filter((r) => r.status === 'pending' || r.status === 'gettingStatus').length;
      assert.ok(pendingBefore > 0);
      clock.advance(7 * HOUR);
      const later = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=5000`), await getToken(sim));
      assert.equal(uniqueKeys(later.rows).size, all);
      assert.equal(later.rows.filter((r) => r.status === 'pending' || r.status === 'gettingStatus').length, 0);
      assert.deepEqual(new Set(later.rows.map((r) => `${r.id}|${r.recipientAddress}|${r.status}`)),
        new Set(sim.groundTruth(tenantId, start, end).map((r) => `${r.id}|${r.recipientAddress}|${r.status}`)));
    } finally {
      await sim.stop();
    }
  });

  test('recalled is returned only with Prefer: include-unknown-enum-members, otherwise as unknownFutureValue (B.5)', async () => {
    const { sim } = await startTestSimulator({
      tenants: [{ rowsPerDay: 2_000, traffic: { status: { delivered: 0, failed: 0, quarantined: 0, filteredAsSpam: 0, expanded: 0, recalled: 1 }, transient: { fraction: 0, minDelayMs: 0, maxDelayMs: 0 } } }],
    });
    try {
      const token = await getToken(sim);
      const url = graphListUrl(sim, `${windowFilter(T0 - 6 * HOUR, T0 - 2 * HOUR)}&$top=10`);
      const plain = await get(url, token);
      assert.ok(plain.json.value.length > 0 && plain.json.value.every((v: { status: string }) => v.status === 'unknownFutureValue'));
      const opted = await get(url, token, { prefer: 'include-unknown-enum-members' });
      assert.ok(opted.json.value.every((v: { status: string }) => v.status === 'recalled'));
    } finally {
      await sim.stop();
    }
  });
});
