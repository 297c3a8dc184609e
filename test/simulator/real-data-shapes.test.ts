/**
 * Real-data shapes (issue 13): distribution-list mails (thousands of recipient rows in one
 * instant), rows that appear inside a window already read and statuses that change between two
 * fetches of the same page, and rows injected at exact instants. Paging follows reference B.4:
 * newest first, `ge`/`le` inclusive, rows at a page-boundary timestamp may repeat.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { distributionListFromEnv, parseSimulatorOptions, SimulatorOptionsError, type Simulator } from '../../simulator/index';
import { parseCliArgs, CliUsageError } from '../../simulator/cli';
import { get, getToken, graphListUrl, HOUR, readAllPages, startTestSimulator, T0, uniqueKeys, windowFilter } from './sim-client';

const BURST_AT = '2026-02-28T20:00:00.1234567Z';
const BURST_MS = Date.parse('2026-02-28T20:00:00.123Z');

function exactFilter(iso: string): string {
  return `$filter=${encodeURIComponent(`receivedDateTime ge ${iso} and receivedDateTime le ${iso}`)}`;
}

function assertNewestFirst(rows: { receivedDateTime: string }[], what: string): void {
  for (let i = 1; i < rows.length; i++) {
    assert.ok(rows[i - 1]!.receivedDateTime >= rows[i]!.receivedDateTime, `${what}: row ${i} is newer than the row before it`);
  }
}

async function withSim(options: Parameters<typeof startTestSimulator>[0], body: (sim: Simulator, tenantId: string) => Promise<void>): Promise<void> {
  const { sim, tenantId } = await startTestSimulator({ throttle: { limit: 100_000, windowMs: 300_000 }, ...options });
  try {
    await body(sim, tenantId);
  } finally {
    await sim.stop();
  }
}

describe('distribution-list mails', () => {
  test('a mail placed at an instant gives one row per recipient, all with the same receivedDateTime, id, sender and subject', () =>
    withSim({ tenants: [{ rowsPerDay: 2000, traffic: { distributionLists: { at: [{ at: BURST_AT, recipients: 3000 }] } } }] }, async (sim, tenantId) => {
      const rows = sim.groundTruth(tenantId, BURST_MS, BURST_MS + 1);
      assert.equal(rows.length, 3000);
      assert.equal(new Set(rows.map((r) => r.receivedDateTime)).size, 1);
      assert.equal(rows[0]!.receivedDateTime, BURST_AT);
      assert.equal(new Set(rows.map((r) => r.id)).size, 1);
      assert.equal(new Set(rows.map((r) => r.senderAddress)).size, 1);
      assert.equal(new Set(rows.map((r) => r.subject)).size, 1);
      assert.equal(uniqueKeys(rows).size, 3000, 'recipients are distinct');
      // getDetailsByRecipient finds a member row (the id encodes where the message lives).
      const token = await getToken(sim);
      const r = await get(`${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces/${rows[0]!.id}/getDetailsByRecipient(recipientAddress='${rows[2999]!.recipientAddress}')`, token);
      assert.equal(r.status, 200);
      assert.equal(r.json.value[0].event, 'Receive');
    }));

  test('scheduled mails are deterministic with the seed and leave the rest of the traffic unchanged', async () => {
    const opts = { seed: 7, tenants: [{ rowsPerDay: 2000, traffic: { distributionLists: { perDay: 6, recipientsMin: 3000, recipientsMax: 5000 } } }] };
    const a = await startTestSimulator(opts);
    const b = await startTestSimulator(opts);
    const plain = await startTestSimulator({ seed: 7, tenants: [{ rowsPerDay: 2000 }] });
    try {
      const start = T0 - 24 * HOUR;
      const ra = a.sim.groundTruth(a.tenantId, start, T0 - HOUR);
      assert.deepEqual(ra, b.sim.groundTruth(b.tenantId, start, T0 - HOUR), 'same seed, same rows');
      const counts = new Map<string, number>();
      for (const r of ra) counts.set(`${r.id}|${r.receivedDateTime}`, (counts.get(`${r.id}|${r.receivedDateTime}`) ?? 0) + 1);
      const bursts = [...counts.entries()].filter(([, n]) => n >= 3000);
      assert.ok(bursts.length >= 2 && bursts.length <= 14, `about 6 a day, got ${bursts.length}`);
      for (const [, n] of bursts) assert.ok(n >= 3000 && n <= 5000);
      const burstIds = new Set(bursts.map(([k]) => k.split('|')[0]));
      assert.deepEqual(ra.filter((r) => !burstIds.has(r.id)), plain.sim.groundTruth(plain.tenantId, start, T0 - HOUR), 'the other rows are the same as without the option');
    } finally {
      await Promise.all([a.sim.stop(), b.sim.stop(), plain.sim.stop()]);
    }
  });

  for (const boundaryRepeats of ['sameTimestamp', 'lastRow', 'none'] as const) {
    for (const top of [1000, 5000]) {
      test(`paging over a 5000-row burst at $top=${top} (boundaryRepeats=${boundaryRepeats}): newest first, terminates, every row at least once`, () =>
        withSim({ graph: { boundaryRepeats }, tenants: [{ rowsPerDay: 20_000, traffic: { distributionLists: { at: [{ at: BURST_AT, recipients: 5000 }] } } }] }, async (sim, tenantId) => {
          const token = await getToken(sim);
          const start = BURST_MS - 30 * 60_000;
          const end = BURST_MS + 30 * 60_000;
          const { rows, pages } = await readAllPages(graphListUrl(sim, `${windowFilter(start, end)}&$top=${top}`), token);
          const truth = sim.groundTruth(tenantId, start, end);
          assert.deepEqual(uniqueKeys(rows), uniqueKeys(truth));
          assert.ok(pages >= 2);
          // Each page is newest first; pages continue at or before the previous page's last instant.
          assertNewestFirst(rows, 'all pages');
          if (boundaryRepeats === 'none') assert.equal(rows.length, truth.length, 'no repeats');
        }));
    }
  }

  test('ge and le are inclusive: a filter naming exactly the burst instant returns all of its rows, newest-first order by recipient', () =>
    withSim({ tenants: [{ rowsPerDay: 2000, traffic: { distributionLists: { at: [{ at: BURST_AT, recipients: 3000 }] } } }] }, async (sim) => {
      const token = await getToken(sim);
      const { rows, pages } = await readAllPages(graphListUrl(sim, `${exactFilter(BURST_AT)}&$top=1000`), token);
      assert.equal(uniqueKeys(rows).size, 3000);
      assert.ok(pages >= 3);
      assert.ok(rows.every((r) => r.receivedDateTime === BURST_AT));
    }));

  test('with boundaryRepeats=sameTimestamp a page that ends inside the burst makes the next page repeat the burst rows already served', () =>
    withSim({ graph: { boundaryRepeats: 'sameTimestamp' }, tenants: [{ rowsPerDay: 2000, traffic: { distributionLists: { at: [{ at: BURST_AT, recipients: 3000 }] } } }] }, async (sim) => {
      const token = await getToken(sim);
      type Row = { id: string; recipientAddress: string; receivedDateTime: string };
      const first = await get(graphListUrl(sim, `${windowFilter(BURST_MS - HOUR, BURST_MS + 10 * 60_000)}&$top=1500`), token);
      const burstOnFirst = (first.json.value as Row[]).filter((r) => r.receivedDateTime === BURST_AT);
      assert.ok(burstOnFirst.length > 0 && burstOnFirst.length < 1500, `page 1 ends inside the burst (${burstOnFirst.length} burst rows)`);
      const second = await get(first.json['@odata.nextLink'], token);
      const secondKeys = uniqueKeys(second.json.value as Row[]);
      assert.ok(burstOnFirst.every((r) => secondKeys.has(`${r.id}|${r.recipientAddress}`)), 'every burst row of page 1 is repeated on page 2');
      assertNewestFirst(second.json.value as Row[], 'page 2');
    }));
});

describe('changes between two fetches of the same page', () => {
  test('lateRowFraction: the second fetch of the same page holds rows inside the range the first already covered', () =>
    withSim({ tenants: [{ rowsPerDay: 20_000, traffic: { rereadChanges: { lateRowFraction: 0.1, statusChangeFraction: 0, latestMs: 24 * HOUR } } }] }, async (sim, tenantId) => {
      const token = await getToken(sim);
      const url = graphListUrl(sim, `${windowFilter(T0 - 6 * HOUR, T0 - 5 * HOUR)}&$top=200`);
      const before = sim.countGroundTruth(tenantId, T0 - 6 * HOUR, T0 - 5 * HOUR);
      const first = (await get(url, token)).json.value as { id: string; recipientAddress: string; receivedDateTime: string }[];
      const second = (await get(url, token)).json.value as typeof first;
      const firstKeys = uniqueKeys(first);
      const oldestFirst = first[first.length - 1]!.receivedDateTime;
      const appeared = second.filter((r) => !firstKeys.has(`${r.id}|${r.recipientAddress}`));
      assert.ok(appeared.length > 0, 'late rows appeared');
      assert.ok(appeared.every((r) => r.receivedDateTime >= oldestFirst && r.receivedDateTime <= first[0]!.receivedDateTime), 'inside the range the first fetch covered');
      assert.ok(sim.countGroundTruth(tenantId, T0 - 6 * HOUR, T0 - 5 * HOUR) > before, 'ground truth includes the revealed rows');
      // A third fetch returns what the second did: a row is revealed once.
      const third = (await get(url, token)).json.value as typeof first;
      assert.deepEqual(third, second);
      // And by the clock alone they show after latestMs.
      const all = sim.countGroundTruth(tenantId, T0 - 6 * HOUR, T0 - 5 * HOUR, { asOf: T0 + 24 * HOUR });
      assert.equal(all, sim.countGroundTruth(tenantId, T0 - 6 * HOUR, T0 - 5 * HOUR, { onlyVisible: false }));
    }));

  test('statusChangeFraction: the second fetch of the same page shows some rows with their final status instead of pending/gettingStatus', () =>
    withSim({ tenants: [{ rowsPerDay: 20_000, traffic: { transient: { fraction: 0 }, rereadChanges: { lateRowFraction: 0, statusChangeFraction: 0.2, latestMs: 24 * HOUR } } }] }, async (sim) => {
      const token = await getToken(sim);
      const url = graphListUrl(sim, `${windowFilter(T0 - 6 * HOUR, T0 - 5 * HOUR)}&$top=300`);
      const first = (await get(url, token)).json.value as { id: string; recipientAddress: string; status: string }[];
      const second = (await get(url, token)).json.value as typeof first;
      assert.deepEqual(uniqueKeys(second), uniqueKeys(first), 'the same rows');
      const changed = first.filter((r, i) => r.status !== second[i]!.status);
      assert.ok(changed.length > 20, `some statuses changed (${changed.length})`);
      assert.ok(changed.every((r) => r.status === 'pending' || r.status === 'gettingStatus'));
      assert.ok(changed.every((r) => !['pending', 'gettingStatus'].includes(second[first.indexOf(r)]!.status)));
    }));

  test('with both rates at 0 (default) two fetches of the same page are identical', () =>
    withSim({ tenants: [{ rowsPerDay: 20_000 }] }, async (sim) => {
      const token = await getToken(sim);
      const url = graphListUrl(sim, `${windowFilter(T0 - 6 * HOUR, T0 - 5 * HOUR)}&$top=300`);
      assert.deepEqual((await get(url, token)).json, (await get(url, token)).json);
    }));

  test('RWS pages see the same changes (offset paging shifts when a late row appears)', () =>
    withSim({ tenants: [{ rowsPerDay: 20_000, traffic: { rereadChanges: { lateRowFraction: 0.1, statusChangeFraction: 0, latestMs: 24 * HOUR } } }] }, async (sim) => {
      const token = await getToken(sim, 'https://outlook.office365.com');
      const f = encodeURIComponent(`StartDate eq datetime'${new Date(T0 - 6 * HOUR).toISOString()}' and EndDate eq datetime'${new Date(T0 - 5 * HOUR).toISOString()}'`);
      const url = `${sim.rwsBaseUrl}/MessageTrace?$filter=${f}&$top=200`;
      const a = await get(url, token, { accept: 'application/json' });
      const b = await get(url, token, { accept: 'application/json' });
      assert.equal(a.status, 200);
      assert.notDeepEqual(b.json.value.map((r: { RecipientAddress: string }) => r.RecipientAddress), a.json.value.map((r: { RecipientAddress: string }) => r.RecipientAddress));
    }));
});

describe('injected rows', () => {
  test('a row injected at an exact instant is served by a filter naming that instant and is in the half-open ground truth', () =>
    withSim({ tenants: [{ rowsPerDay: 2000, traffic: { injectedRows: [{ receivedDateTime: '2026-02-28T18:00:00.0000000Z', recipientAddress: 'edge@contoso.com' }] } }] }, async (sim, tenantId) => {
      const edge = Date.parse('2026-02-28T18:00:00Z');
      assert.deepEqual(sim.groundTruth(tenantId, edge, edge + 1).map((r) => r.recipientAddress), ['edge@contoso.com']);
      assert.equal(sim.groundTruth(tenantId, edge - HOUR, edge).filter((r) => r.recipientAddress === 'edge@contoso.com').length, 0, '[start, end) excludes the end');
      const token = await getToken(sim);
      const r = await get(graphListUrl(sim, exactFilter('2026-02-28T18:00:00Z')), token);
      assert.deepEqual(r.json.value.map((x: { recipientAddress: string }) => x.recipientAddress), ['edge@contoso.com']);
      // le is inclusive: the window that ends exactly there returns it too.
      const before = await readAllPages(graphListUrl(sim, `$filter=${encodeURIComponent(`receivedDateTime ge 2026-02-28T17:00:00Z and receivedDateTime le 2026-02-28T18:00:00Z`)}&$top=1000`), token);
      assert.equal(before.rows.filter((x) => x.recipientAddress === 'edge@contoso.com').length, 1);
    }));

  test('injectRows at run time: rows of one message share an id, appear in the API and in ground truth', () =>
    withSim({ tenants: [{ rowsPerDay: 2000 }] }, async (sim, tenantId) => {
      const at = Date.parse('2026-02-28T12:34:56.789Z');
      const truthBefore = sim.countGroundTruth(tenantId, at - HOUR, at + HOUR);
      sim.injectRows(tenantId, [
        { receivedDateTime: '2026-02-28T12:34:56.7890000Z', recipientAddress: 'a@contoso.com', message: 1, status: 'failed' },
        { receivedDateTime: '2026-02-28T12:34:56.7890000Z', recipientAddress: 'b@contoso.com', message: 1 },
      ]);
      const rows = sim.groundTruth(tenantId, at, at + 1);
      assert.equal(rows.length, 2);
      assert.equal(rows[0]!.id, rows[1]!.id);
      assert.deepEqual(rows.map((r) => r.status).sort(), ['delivered', 'failed']);
      assert.equal(sim.countGroundTruth(tenantId, at - HOUR, at + HOUR), truthBefore + 2);
      const token = await getToken(sim);
      const r = await get(graphListUrl(sim, exactFilter('2026-02-28T12:34:56.789Z')), token);
      assert.equal(r.json.value.length, 2);
      assert.throws(() => sim.injectRows(tenantId, [{ receivedDateTime: 'yesterday' }]), (e: Error) => e instanceof SimulatorOptionsError && /receivedDateTime/.test(e.message));
    }));
});

describe('options, CLI and environment for the new shapes', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['recipientsMax below recipientsMin', { distributionLists: { recipientsMin: 5000, recipientsMax: 10 } }, /distributionLists: recipientsMax must be >= recipientsMin/],
    ['a distribution list at a non-instant', { distributionLists: { at: [{ at: 'noon', recipients: 10 }] } }, /distributionLists\.at\[0\]\.at: must be an ISO 8601/],
    ['rates that add up above 1', { rereadChanges: { lateRowFraction: 0.6, statusChangeFraction: 0.6 } }, /rereadChanges: lateRowFraction \+ statusChangeFraction must be at most 1/],
    ['a fraction above 1', { rereadChanges: { lateRowFraction: 2 } }, /rereadChanges\.lateRowFraction/],
    ['an injected row without a time', { injectedRows: [{ recipientAddress: 'x@contoso.com' }] }, /injectedRows\[0\]\.receivedDateTime/],
    ['an injected row with an unknown field', { injectedRows: [{ receivedDateTime: BURST_AT, colour: 'red' }] }, /injectedRows\[0\]\.colour/],
  ];
  for (const [what, traffic, message] of bad) {
    test(`${what} is rejected with an error naming the option`, () => {
      assert.throws(() => parseSimulatorOptions({ tenants: [{ traffic }] }), (e: Error) => e instanceof SimulatorOptionsError && message.test(e.message));
    });
  }

  test('an injected row finer than graph.receivedPrecision is rejected at start', async () => {
    await assert.rejects(startTestSimulator({ graph: { receivedPrecision: 'seconds' }, tenants: [{ traffic: { injectedRows: [{ receivedDateTime: '2026-02-28T18:00:00.5Z' }] } }] }),
      (e: Error) => e instanceof SimulatorOptionsError && /injectedRows\[0\]\.receivedDateTime has fractional seconds/.test(e.message));
  });

  test('the CLI sets distribution lists and reread rates for every tenant', () => {
    const now = () => T0;
    const { options } = parseCliArgs(['--tenants', '2', '--distribution-lists-per-day', '3', '--distribution-list-recipients', '2000-4000',
      '--distribution-list', '3000', '--distribution-list', `5000@${BURST_AT}`, '--late-row-fraction', '0.01', '--status-change-fraction', '0.02'], now);
    const resolved = parseSimulatorOptions(options);
    for (const t of resolved.tenants) {
      assert.deepEqual(t.traffic.distributionLists, { perDay: 3, recipientsMin: 2000, recipientsMax: 4000, at: [{ at: new Date(T0 - 45 * 60_000).toISOString(), recipients: 3000 }, { at: BURST_AT, recipients: 5000 }] });
      assert.deepEqual(t.traffic.rereadChanges, { lateRowFraction: 0.01, statusChangeFraction: 0.02, latestMs: 24 * HOUR });
    }
  });

  for (const [args, message] of [
    [['--distribution-list-recipients', '5000-10'], /--distribution-list-recipients must be <min>-<max>/],
    [['--distribution-list', 'many'], /--distribution-list must be <recipients>/],
    [['--distribution-list', '3000@noon'], /--distribution-list has an instant that is not ISO 8601/],
    [['--late-row-fraction', '1.5'], /--late-row-fraction must be a fraction from 0 to 1/],
    [['--status-change-fraction'], /--status-change-fraction needs a value/],
  ] as [string[], RegExp][]) {
    test(`CLI ${args.join(' ')} is refused with a message naming the option`, () => {
      assert.throws(() => parseCliArgs(args), (e: Error) => e instanceof CliUsageError && message.test(e.message));
    });
  }

  test('MTC_SIM_DISTRIBUTION_LIST places one mail 45 minutes before now, or at the given instant; a bad value names the variable', () => {
    assert.equal(distributionListFromEnv({}, T0), undefined);
    assert.deepEqual(distributionListFromEnv({ MTC_SIM_DISTRIBUTION_LIST: '3000' }, T0)?.distributionLists.at, [{ at: new Date(T0 - 45 * 60_000).toISOString(), recipients: 3000 }]);
    assert.deepEqual(distributionListFromEnv({ MTC_SIM_DISTRIBUTION_LIST: `5000@${BURST_AT}` }, T0)?.distributionLists.at, [{ at: BURST_AT, recipients: 5000 }]);
    assert.throws(() => distributionListFromEnv({ MTC_SIM_DISTRIBUTION_LIST: 'lots' }, T0), /MTC_SIM_DISTRIBUTION_LIST must be <recipients>/);
  });
});
