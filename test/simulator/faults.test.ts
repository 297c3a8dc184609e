/**
 * Fault injection: every FaultKind, matching, counting and seeded reproducibility. The faults
 * mirror reference A.8 (HTML sign-in page, 503), B.2 (missing service principal), B.4 (#18134
 * poisoned skiptoken), B.7 (429 + Retry-After) and B.8 (401, 403, 5xx).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSkipToken, type FaultKind, type Simulator } from '../../simulator/index';
import { get, getToken, graphListUrl, HOUR, startTestSimulator, T0, windowFilter } from './sim-client';

async function withSim(fn: (sim: Simulator, token: string, tenantId: string) => Promise<void>): Promise<void> {
  const { sim, tenantId } = await startTestSimulator({ throttle: { limit: 10_000, windowMs: 300_000 } });
  try {
    await fn(sim, await getToken(sim), tenantId);
  } finally {
    await sim.stop();
  }
}

const listUrl = (sim: Simulator) => graphListUrl(sim, `${windowFilter(T0 - 5 * HOUR, T0 - 4 * HOUR)}&$top=100`);

describe('fault kinds', () => {
  const statusFaults: [FaultKind, number, string][] = [
    ['429', 429, 'TooManyRequests'],
    ['500', 500, 'InternalServerError'],
    ['503', 503, 'ServiceUnavailable'],
    ['504', 504, 'GatewayTimeout'],
    ['forbidden', 403, 'Authorization_RequestDenied'],
    ['expiredToken', 401, 'InvalidAuthenticationToken'],
    ['missingServicePrincipal', 401, 'Unauthorized'],
  ];
  for (const [kind, status, code] of statusFaults) {
    test(`${kind} answers ${status} ${code} once, then the service recovers`, () => withSim(async (sim, token, tenantId) => {
      sim.addFault({ kind, count: 1, match: { api: 'graph' } });
      const r = await get(listUrl(sim), token);
      assert.equal(r.status, status);
      assert.equal(r.json.error.code, code);
      if (kind === '429') assert.equal(r.headers.get('retry-after'), '10');
      if (kind === 'missingServicePrincipal') assert.match(r.json.error.message, /^Service principal-less Authentication failed/);
      assert.equal((await get(listUrl(sim), token)).status, 200);
      assert.equal(sim.stats(tenantId).faultsInjected[kind], 1);
    }));
  }

  test('reset destroys the socket', () => withSim(async (sim, token) => {
    sim.addFault({ kind: 'reset', count: 1 });
    await assert.rejects(fetch(listUrl(sim), { headers: { authorization: `Bearer ${token}` } }), TypeError);
  }));

  test('hang never answers, so the client times out', () => withSim(async (sim, token) => {
    sim.addFault({ kind: 'hang', count: 1 });
    await assert.rejects(fetch(listUrl(sim), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
    assert.equal((await get(listUrl(sim), token)).status, 200);
  }));

  test('html answers 200 with the "Sign in to Outlook" page (A.8)', () => withSim(async (sim) => {
    sim.addFault({ kind: 'html', count: 1, match: { api: 'rws' } });
    const r = await get(`${sim.rwsBaseUrl}/MessageTrace`, await getToken(sim, 'https://outlook.office365.com'), { accept: 'application/json' });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /text\/html/);
    assert.match(r.text, /<title>Sign in to Outlook<\/title>/);
    assert.throws(() => JSON.parse(r.text), SyntaxError);
  }));

  test('truncated answers 200 with the JSON cut in half', () => withSim(async (sim, token) => {
    const whole = await get(listUrl(sim), token);
    sim.addFault({ kind: 'truncated', count: 1 });
    const r = await get(listUrl(sim), token);
    assert.equal(r.status, 200);
    assert.equal(r.json, undefined, 'not parseable');
    assert.equal(r.text, whole.text.slice(0, r.text.length));
    assert.ok(Math.abs(r.text.length - whole.text.length / 2) < 10);
  }));

  test('corruptNextLink wraps the skiptoken values in quotes and following it fails with 400 on every retry (B.4, #18134)', () => withSim(async (sim, token, tenantId) => {
    sim.addFault({ kind: 'corruptNextLink', count: 1 });
    const r = await get(listUrl(sim), token);
    const link: string = r.json['@odata.nextLink'];
    const decoded = decodeSkipToken(new URL(link).searchParams.get('$skiptoken')!)!;
    assert.match(decoded.StartDate, /^"\d{4}-.*Z"$/);
    assert.match(decoded.EndDate, /^"\d{4}-.*Z"$/);
    for (let attempt = 0; attempt < 3; attempt++) {
      const next = await get(link, token);
      assert.equal(next.status, 400);
      assert.equal(next.json.error.code, 'BadRequest');
      assert.equal(next.json.error.message, "Cannot process argument transformation on parameter 'StartDate'");
    }
    assert.equal(sim.stats(tenantId).faultsInjected.corruptNextLink, 1);
  }));

  test('a token-endpoint fault fails the token request and leaves the APIs alone', () => withSim(async (sim, token) => {
    sim.addFault({ kind: '503', count: 1, match: { api: 'token' } });
    await assert.rejects(getToken(sim), /503/);
    assert.ok(await getToken(sim));
    assert.equal((await get(listUrl(sim), token)).status, 200);
  }));
});

describe('fault matching and reproducibility', () => {
  test('nthRequest fires on exactly that matching request; clearFaults removes rules', () => withSim(async (sim, token) => {
    sim.addFault({ kind: '500', match: { api: 'graph', nthRequest: 3 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(listUrl(sim), token)).status);
    assert.deepEqual(statuses, [200, 200, 500, 200]);
    sim.addFault({ kind: '503' });
    assert.equal((await get(listUrl(sim), token)).status, 503);
    sim.clearFaults();
    assert.equal((await get(listUrl(sim), token)).status, 200);
  }));

  test('tenantId and pathIncludes narrow a rule', async () => {
    const { sim } = await startTestSimulator({ tenants: 2 });
    try {
      sim.addFault({ kind: '500', match: { tenantId: sim.tenants[1]!.tenantId, pathIncludes: '$top=100' } });
      const a = await getToken(sim, 'https://graph.microsoft.com', 0);
      const b = await getToken(sim, 'https://graph.microsoft.com', 1);
      assert.equal((await get(listUrl(sim), a)).status, 200);
      assert.equal((await get(listUrl(sim), b)).status, 500);
      assert.equal((await get(graphListUrl(sim, '$top=5'), b)).status, 200);
    } finally {
      await sim.stop();
    }
  });

  test('a probabilistic fault hits the same requests for the same seed, and stats count them', async () => {
    const run = async (seed: number) => {
      const { sim, tenantId } = await startTestSimulator({ seed, throttle: { limit: 10_000, windowMs: 300_000 }, faults: [{ kind: '503', probability: 0.3, match: { api: 'graph' } }] });
      try {
        const token = await getToken(sim);
        const statuses: number[] = [];
        for (let i = 0; i < 40; i++) statuses.push((await get(graphListUrl(sim, '$top=1'), token)).status);
        assert.equal(sim.stats(tenantId).faultsInjected['503'], statuses.filter((s) => s === 503).length);
        assert.equal(sim.stats(tenantId).byStatus[503], statuses.filter((s) => s === 503).length);
        return statuses.join(',');
      } finally {
        await sim.stop();
      }
    };
    const first = await run(7);
    assert.equal(await run(7), first);
    assert.ok(first.includes('503') && first.includes('200'));
    assert.notEqual(await run(8), first);
  });
});
