/**
 * Determinism of the seeded lazy traffic generator, scale (1M rows/day over 90 days without
 * materialising it), latency on the injected clock, and https with the generated certificate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { AcceleratedClock } from '../../shared/time/clock';
import { DAY, get, getToken, graphListUrl, HOUR, startTestSimulator, T0, windowFilter } from './sim-client';

describe('deterministic traffic', () => {
  test('the same seed gives the same tenants, credentials, rows and pages; another seed differs', async () => {
    const a = await startTestSimulator({ seed: 42, tenants: 2 });
    const b = await startTestSimulator({ seed: 42, tenants: 2 });
    const c = await startTestSimulator({ seed: 43, tenants: 2 });
    try {
      assert.deepEqual(a.sim.tenants, b.sim.tenants);
      assert.notDeepEqual(a.sim.tenants, c.sim.tenants);
      const truthA = a.sim.groundTruth(a.tenantId, T0 - 3 * HOUR, T0 - 2 * HOUR);
      assert.deepEqual(b.sim.groundTruth(b.tenantId, T0 - 3 * HOUR, T0 - 2 * HOUR), truthA);
      assert.notDeepEqual(c.sim.groundTruth(c.tenantId, T0 - 3 * HOUR, T0 - 2 * HOUR).map((r) => r.id), truthA.map((r) => r.id));
      const pageA = await get(graphListUrl(a.sim, `${windowFilter(T0 - 3 * HOUR, T0 - 2 * HOUR)}&$top=50`), await getToken(a.sim));
      const pageB = await get(graphListUrl(b.sim, `${windowFilter(T0 - 3 * HOUR, T0 - 2 * HOUR)}&$top=50`), await getToken(b.sim));
      assert.deepEqual(pageA.json.value, pageB.json.value);
      // Tenants of one simulator get different traffic and domains.
      const other = a.sim.groundTruth(a.sim.tenants[1]!.tenantId, T0 - 3 * HOUR, T0 - 2 * HOUR);
      assert.ok(other.some((r) => r.recipientAddress.endsWith('@fabrikam.com')), 'the second tenant is fabrikam.com');
      assert.ok(other.every((r) => !r.recipientAddress.endsWith('@contoso.com')));
      assert.notDeepEqual(other.map((r) => r.id), truthA.map((r) => r.id));
    } finally {
      await Promise.all([a.sim.stop(), b.sim.stop(), c.sim.stop()]);
    }
  });

  test('ground truth is the same whatever order buckets are generated in (lazy generation)', async () => {
    const a = await startTestSimulator({ seed: 5 });
    const b = await startTestSimulator({ seed: 5 });
    try {
      const late = a.sim.groundTruth(a.tenantId, T0 - 2 * HOUR, T0 - HOUR);
      a.sim.groundTruth(a.tenantId, T0 - 80 * DAY, T0 - 80 * DAY + HOUR);
      assert.deepEqual(b.sim.groundTruth(b.tenantId, T0 - 2 * HOUR, T0 - HOUR), late);
    } finally {
      await Promise.all([a.sim.stop(), b.sim.stop()]);
    }
  });

  test('a tenant with 1M rows/day answers a full 10-day window 80 days back page by page without generating it all', async () => {
    const { sim, tenantId } = await startTestSimulator({ tenants: [{ rowsPerDay: 1_000_000 }] });
    try {
      const token = await getToken(sim);
      const end = T0 - 80 * DAY;
      const r = await get(graphListUrl(sim, `${windowFilter(end - 10 * DAY, end)}&$top=5000`), token);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.value.length, 5000);
      assert.ok(Date.parse(r.json.value[4999].receivedDateTime) > end - 10 * 60_000, 'only the newest buckets were needed');
      const hour = sim.countGroundTruth(tenantId, end - HOUR, end);
      assert.ok(hour > 40_000 && hour < 43_500, `about 41,667 rows in an hour, got ${hour}`);
    } finally {
      await sim.stop();
    }
  });

  test('the traffic mix has multi-recipient messages, every final status, IPv6 and quoted or unicode subjects', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const rows = sim.groundTruth(tenantId, T0 - 2 * DAY, T0 - DAY);
      const statuses = new Set(rows.map((r) => r.status));
      for (const s of ['delivered', 'failed', 'quarantined', 'filteredAsSpam', 'expanded']) assert.ok(statuses.has(s), s);
      const perMessage = new Map<string, number>();
      for (const r of rows) perMessage.set(r.id, (perMessage.get(r.id) ?? 0) + 1);
      const counts = [...perMessage.values()];
      assert.ok(counts.filter((n) => n === 1).length > counts.length * 0.8);
      assert.ok(counts.some((n) => n >= 50), 'rare large fan-out');
      assert.ok(rows.some((r) => r.subject.includes("'")) && rows.some((r) => r.subject.includes('"')) && rows.some((r) => /[^ -~]/.test(r.subject)));
      assert.ok(rows.some((r) => r.fromIP.includes(':')));
      assert.ok(rows.length > 45_000 && rows.length < 55_000);
    } finally {
      await sim.stop();
    }
  });
});

describe('traffic options', () => {
  test('receivedPrecision shapes receivedDateTime: seconds, millis or 7 fractional digits (B.5, G.7)', async () => {
    for (const [receivedPrecision, pattern] of [['seconds', /:\d\dZ$/], ['millis', /\.\d{3}Z$/], ['ticks7', /\.\d{7}Z$/]] as const) {
      const { sim, tenantId } = await startTestSimulator({ graph: { receivedPrecision } });
      try {
        const rows = sim.groundTruth(tenantId, T0 - 2 * HOUR, T0 - HOUR);
        assert.ok(rows.length > 0 && rows.every((r) => pattern.test(r.receivedDateTime)), receivedPrecision);
        const page = await get(graphListUrl(sim, `${windowFilter(T0 - 2 * HOUR, T0 - HOUR)}&$top=5`), await getToken(sim));
        assert.ok(page.json.value.every((r: { receivedDateTime: string }) => pattern.test(r.receivedDateTime)));
      } finally {
        await sim.stop();
      }
    }
  });

  test('the optional daily curve puts more mail in business hours than at night, with the same daily total', async () => {
    const { sim, tenantId } = await startTestSimulator({ tenants: [{ rowsPerDay: 24_000, traffic: { dailyCurve: true } }] });
    try {
      const day = Date.parse('2026-02-27T00:00:00Z');
      const hourCount = (h: number) => sim.countGroundTruth(tenantId, day + h * HOUR, day + (h + 1) * HOUR);
      assert.ok(hourCount(11) > 3 * hourCount(3), `${hourCount(11)} vs ${hourCount(3)}`);
      const total = sim.countGroundTruth(tenantId, day, day + DAY);
      assert.ok(total > 23_000 && total < 25_000, String(total));
    } finally {
      await sim.stop();
    }
  });
});

describe('server', () => {
  test('latency is spent in clock time: a request completes only when the ManualClock moves', async () => {
    const { sim, clock } = await startTestSimulator({ latency: { meanMs: 5_000 } });
    try {
      let settled = false;
      const pending = fetch(`${sim.baseUrl}/v1.0/admin/exchange/tracing/messageTraces`).then((r) => {
        settled = true;
        return r.status;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(settled, false);
      clock.advance(5_000);
      assert.equal(await pending, 401);
    } finally {
      await sim.stop();
    }
  });

  test('https serves Graph with the self-signed certificate in caCertificatePem, on an accelerated clock', async () => {
    const clock = new AcceleratedClock(T0, 60);
    const { sim } = await startTestSimulator({ https: true, clock });
    try {
      assert.match(sim.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(sim.caCertificatePem?.includes('BEGIN CERTIFICATE'));
      const request = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = https.request(`${sim.baseUrl}${path}`, { ca: sim.caCertificatePem, method: init.method ?? 'GET', headers: init.headers }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          });
          req.on('error', reject);
          req.end(init.body);
        });
      const t = sim.tenants[0]!;
      const tok = await request(`/${t.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, scope: 'https://graph.microsoft.com/.default' }).toString(),
      });
      assert.equal(tok.status, 200);
      const list = await request('/v1.0/admin/exchange/tracing/messageTraces?$top=3', { headers: { authorization: `Bearer ${JSON.parse(tok.body).access_token}` } });
      assert.equal(list.status, 200);
      assert.equal(JSON.parse(list.body).value.length, 3);
      assert.match(JSON.parse(list.body)['@odata.nextLink'], /^https:\/\//);
    } finally {
      await sim.stop();
    }
  });
});
