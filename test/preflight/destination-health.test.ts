/**
 * Destination health checks at start-up (issue 7): real destinations against local receivers that
 * answer their vendor's health route, one healthy and one refusing the token, one that hangs, and
 * one with no health check at all.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDestination } from '../../shared/destinations';
import { checkDestinations, DESTINATION_HEALTH_EVENT } from '../../shared/destinations/health-check';
import type { Destination } from '../../shared/destinations/destination';
import type { SplunkHecDestinationConfig } from '../../shared/destinations/splunk-hec/config';
import { MemoryLogger } from '../../shared/log';
import { MemoryTelemetry } from '../../shared/telemetry';
import { configOf } from '../destinations/helpers';
import { secretsOf, startVendorReceiver, type VendorReceiver } from '../destinations/vendor-receiver';

const TOKEN = '11111111-2222-3333-4444-555555555555';
const receivers: VendorReceiver[] = [];
after(async () => { for (const r of receivers) await r.close(); });

async function splunk(id: string, reply: Parameters<typeof startVendorReceiver>[0]): Promise<{ d: Destination; r: VendorReceiver }> {
  const r = await startVendorReceiver(reply);
  receivers.push(r);
  const d = createDestination(configOf<SplunkHecDestinationConfig>({ id, type: 'splunk-hec', url: r.url, allowInsecureLoopback: true, tokenRef: 'env:HEC_TOKEN' }), secretsOf({ HEC_TOKEN: TOKEN }));
  return { d, r };
}

describe('destination health checks at start-up', () => {
  it('reports a passing and a failing destination as health, once each, and resolves instead of throwing', async () => {
    const good = await splunk('splunk-ok', (q) => (q.path === '/services/collector/health' ? { status: 200, body: { text: 'HEC is healthy', code: 17 } } : { status: 404 }));
    const bad = await splunk('splunk-bad', () => ({ status: 403, body: { text: 'Invalid token', code: 4 } }));
    const log = new MemoryLogger();
    const telemetry = new MemoryTelemetry();

    const results = await checkDestinations(new Map([[good.d.id, good.d], [bad.d.id, bad.d]]), log, telemetry);

    assert.deepEqual(results.map((r) => [r.id, r.ok]), [['splunk-ok', true], ['splunk-bad', false]]);
    const failed = results[1]!;
    assert.equal(failed.code, 'Hec4');
    assert.match(failed.error ?? '', /token/i);
    assert.match(failed.fix ?? '', /tokenRef/);
    // Reported as health: one event per destination and a warning with the fix.
    const events = telemetry.events.filter((e) => e.name === DESTINATION_HEALTH_EVENT);
    assert.deepEqual(events.map((e) => [e.properties.destination, e.properties.ok]), [['splunk-ok', true], ['splunk-bad', false]]);
    assert.equal(events[1]!.properties.code, 'Hec4');
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.message.includes('splunk-bad') && l.message.includes('Fix:')));
    // Not retried: the failing receiver saw exactly one request.
    assert.equal(bad.r.requests.length, 1);
    assert.equal(good.r.requests.length, 1);
    // The token never reaches a log line or an event.
    assert.ok(!log.text().includes(TOKEN));
    assert.ok(!JSON.stringify(telemetry.events).includes(TOKEN));
  });

  it('gives up on a health check that does not answer within the timeout', async () => {
    const hanging: Destination = { id: 'slow', type: 'http', send: async () => {}, healthCheck: () => new Promise<void>(() => {}) };
    const telemetry = new MemoryTelemetry();
    const [r] = await checkDestinations([hanging], new MemoryLogger(), telemetry, { timeoutMs: 50 });
    assert.equal(r!.ok, false);
    assert.equal(r!.code, 'Timeout');
    assert.match(r!.error!, /50 ms/);
    assert.equal(telemetry.events[0]!.properties.ok, false);
  });

  it('treats a destination without a health check as healthy without sending anything', async () => {
    const plain: Destination = { id: 'files', type: 'file', send: async () => {} };
    const throwing: Destination = { id: 'boom', type: 'http', send: async () => {}, healthCheck: () => { throw new Error('synchronous failure'); } };
    const results = await checkDestinations([plain, throwing], new MemoryLogger(), new MemoryTelemetry());
    assert.deepEqual(results.map((r) => [r.id, r.ok, r.skipped ?? false]), [['files', true, true], ['boom', false, false]]);
    assert.match(results[1]!.error!, /synchronous failure/);
  });
});
