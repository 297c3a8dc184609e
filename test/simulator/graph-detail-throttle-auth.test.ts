/**
 * getDetailsByRecipient (reference B.6), the shared per-tenant throttle (B.7) and the tenant
 * prerequisites: token audience, service principal (B.2), permission (B.8) and RWS role (A.2, A.8).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, getToken, graphListUrl, HOUR, startTestSimulator, T0, windowFilter } from './sim-client';

describe('getDetailsByRecipient (B.6)', () => {
  test('starts with Receive at the receivedDateTime and ends with Deliver for a delivered inbound row and Fail for a failed one', async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const rows = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR);
      for (const [status, event] of [['delivered', 'Deliver'], ['failed', 'Fail']] as const) {
        const row = rows.find((r) => r.status === status && r.toIP === '')!;
        const url = `${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces/${row.id}/getDetailsByRecipient(recipientAddress='${row.recipientAddress}')`;
        const r = await get(url, token);
        assert.equal(r.status, 200, r.text);
        assert.match(r.json['@odata.context'], /\$metadata#Collection\(microsoft\.graph\.exchangeMessageTraceDetail\)$/);
        const names = r.json.value.map((e: { event: string }) => e.event);
        assert.equal(names[0], 'Receive');
        assert.equal(names[names.length - 1], event, names.join('>'));
        for (const e of r.json.value) {
          assert.equal(e.id, row.id);
          assert.equal(e.messageId, row.messageId);
          assert.equal(typeof e.description, 'string');
          assert.equal(typeof e.action, 'string');
          assert.match(e.data, /^<root>.*<\/root>$/);
        }
        assert.equal(r.json.value[0].dateTime, row.receivedDateTime);
      }
    } finally {
      await sim.stop();
    }
  });

  test("an unknown id or recipient answers {\"value\":[]}, and the recipient accepts URL-encoded quotes", async () => {
    const { sim, tenantId } = await startTestSimulator();
    try {
      const token = await getToken(sim);
      const row = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR)[0]!;
      const base = `${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces`;
      const unknownId = await get(`${base}/00000000-0000-0000-0000-000000000000/getDetailsByRecipient(recipientAddress='${row.recipientAddress}')`, token);
      assert.deepEqual(unknownId.json, { value: [] });
      const unknownRecipient = await get(`${base}/${row.id}/getDetailsByRecipient(recipientAddress='nobody@contoso.com')`, token);
      assert.deepEqual(unknownRecipient.json, { value: [] });
      const encoded = await get(`${base}/${row.id}/getDetailsByRecipient(recipientAddress=%27${encodeURIComponent(row.recipientAddress.toUpperCase())}%27)`, token);
      assert.equal(encoded.json.value[0].event, 'Receive');
    } finally {
      await sim.stop();
    }
  });
});

describe('throttling (B.7)', () => {
  test('the 101st request in 5 minutes gets 429 with Retry-After, and list, detail and RWS share the budget', async () => {
    const { sim, clock, tenantId } = await startTestSimulator();
    try {
      const graphToken = await getToken(sim);
      const rwsToken = await getToken(sim, 'https://outlook.office365.com');
      const row = sim.groundTruth(tenantId, T0 - 5 * HOUR, T0 - 4 * HOUR)[0]!;
      const detailUrl = `${sim.graphBaseUrl}/v1.0/admin/exchange/tracing/messageTraces/${row.id}/getDetailsByRecipient(recipientAddress='${row.recipientAddress}')`;
      const listUrl = graphListUrl(sim, `${windowFilter(T0 - 5 * HOUR, T0 - 4 * HOUR)}&$top=1`);
      const rwsUrl = `${sim.rwsBaseUrl}/MessageTrace?$top=1`;
      for (let i = 0; i < 100; i++) {
        clock.advance(1000); // spread over 100 s of clock time
        const r = i % 3 === 0 ? await get(listUrl, graphToken) : i % 3 === 1 ? await get(detailUrl, graphToken) : await get(rwsUrl, rwsToken, { accept: 'application/json' });
        assert.equal(r.status, 200, `request ${i + 1}: ${r.text.slice(0, 200)}`);
      }
      const throttled = await get(listUrl, graphToken);
      assert.equal(throttled.status, 429);
      assert.equal(throttled.json.error.message, 'Your recent queries have surpassed the permitted limit, please try again later.');
      const retryAfter = Number(throttled.headers.get('retry-after'));
      // The first request was at T0+1s; it leaves the window at T0+301s; now is T0+100s.
      assert.equal(retryAfter, 201);
      assert.equal((await get(detailUrl, graphToken)).status, 429);
      assert.equal((await get(rwsUrl, rwsToken, { accept: 'application/json' })).status, 429);
      clock.advance(retryAfter * 1000);
      assert.equal((await get(listUrl, graphToken)).status, 200, 'a slot is free after Retry-After');
      const stats = sim.stats(tenantId);
      assert.equal(stats.throttled, 3);
      assert.equal(stats.requests, 104);
      assert.equal(stats.byStatus[429], 3);
      assert.equal(stats.listRequests + stats.detailRequests + stats.rwsRequests, 104);
    } finally {
      await sim.stop();
    }
  });

  test('each tenant has its own budget', async () => {
    const { sim } = await startTestSimulator({ tenants: 2, throttle: { limit: 2, windowMs: 60_000 } });
    try {
      const a = await getToken(sim, 'https://graph.microsoft.com', 0);
      const b = await getToken(sim, 'https://graph.microsoft.com', 1);
      const url = graphListUrl(sim, '$top=1');
      assert.deepEqual([(await get(url, a)).status, (await get(url, a)).status, (await get(url, a)).status], [200, 200, 429]);
      assert.equal((await get(url, b)).status, 200);
    } finally {
      await sim.stop();
    }
  });
});

describe('tenant prerequisites and tokens (A.2, B.2, B.8)', () => {
  test('a missing service principal gives 401 with the exact B.2 body until it is provisioned', async () => {
    const { sim, tenantId } = await startTestSimulator({ tenants: [{ servicePrincipalProvisioned: false }] });
    try {
      const token = await getToken(sim);
      const r = await get(graphListUrl(sim, '$top=1'), token);
      assert.equal(r.status, 401);
      assert.equal(r.json.error.code, 'Unauthorized');
      assert.equal(r.json.error.message,
        'Service principal-less Authentication failed: the service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found. Please create a service principal for this app in your tenant. Provisioning may take several hours to complete. For details, see: https://learn.microsoft.com/entra/identity-platform/retire-service-principal-less-authentication?branch=main#create-a-service-principal');
      sim.setTenant(tenantId, { servicePrincipalProvisioned: true });
      assert.equal((await get(graphListUrl(sim, '$top=1'), token)).status, 200);
    } finally {
      await sim.stop();
    }
  });

  test('without ExchangeMessageTrace.Read.All the token has no role and Graph answers 403', async () => {
    const { sim, tenantId } = await startTestSimulator({ tenants: [{ graphPermissionGranted: false }] });
    try {
      const token = await getToken(sim);
      const r = await get(graphListUrl(sim, '$top=1'), token);
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'Authorization_RequestDenied');
      sim.setTenant(tenantId, { graphPermissionGranted: true });
      assert.equal((await get(graphListUrl(sim, '$top=1'), await getToken(sim))).status, 200, 'a new token carries the granted role');
    } finally {
      await sim.stop();
    }
  });

  test('without the RWS role the report answers 403 with the exact A.8 body', async () => {
    const { sim } = await startTestSimulator({ tenants: [{ rwsRoleAssigned: false }] });
    try {
      const token = await getToken(sim, 'https://outlook.office365.com');
      const r = await get(`${sim.rwsBaseUrl}/MessageTrace`, token, { accept: 'application/json' });
      assert.equal(r.status, 403);
      assert.equal(r.text, '{"ErrorCode":"","Message":"No permission to access the report for the organization ."}');
    } finally {
      await sim.stop();
    }
  });

  test('a missing token, a token for the wrong audience and an expired token give 401 InvalidAuthenticationToken', async () => {
    const { sim, clock } = await startTestSimulator({ tokenLifetimeSec: 600 });
    try {
      assert.equal((await get(graphListUrl(sim, '$top=1'), undefined)).status, 401);
      const rwsToken = await getToken(sim, 'https://outlook.office365.com');
      const wrong = await get(graphListUrl(sim, '$top=1'), rwsToken);
      assert.equal(wrong.status, 401);
      assert.equal(wrong.json.error.code, 'InvalidAuthenticationToken');
      const graphToken = await getToken(sim);
      assert.equal((await get(`${sim.rwsBaseUrl}/MessageTrace`, graphToken, { accept: 'application/json' })).status, 401);
      clock.advance(601_000);
      const expired = await get(graphListUrl(sim, '$top=1'), graphToken);
      assert.equal(expired.status, 401);
      assert.equal(expired.json.error.code, 'InvalidAuthenticationToken');
    } finally {
      await sim.stop();
    }
  });
});
