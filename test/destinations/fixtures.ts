/** Trace events for the destination and format tests: inbound, outbound and internal mail. */
import { makeEvent, type TraceEvent } from '../../shared/model/row';

export const TENANT = '8f2c1a9e-3b4d-4c6e-9f01-23456789abcd';
export const ACCEPTED = ['contoso.com', 'contoso.onmicrosoft.com'];

export function sampleEvents(): TraceEvent[] {
  const base = { tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T14:40:00.000Z' };
  return [
    makeEvent({ ...base, fields: {}, row: { id: '4f1e2d3c-0000-4000-8000-000000000001', senderAddress: 'alerts@fabrikam.com', recipientAddress: 'Linus@contoso.com', messageId: '<a1@fabrikam.com>', receivedDateTime: '2026-11-18T14:37:12.1234567Z', subject: 'Invoice 42', size: 33435, fromIP: '203.0.113.7', toIP: '198.51.100.20', status: 'delivered' } }),
    makeEvent({ ...base, fields: {}, row: { id: '4f1e2d3c-0000-4000-8000-000000000002', senderAddress: 'ada@contoso.com', recipientAddress: 'bob@example.org', messageId: '<b2@contoso.com>', receivedDateTime: '2026-11-18T14:38:00Z', subject: 'Re: plans', size: 1200, fromIP: '198.51.100.21', toIP: '', status: 'failed' } }),
    makeEvent({ ...base, api: 'graph/beta', fields: { customer: 'contoso', priority: 3 }, row: { id: '4f1e2d3c-0000-4000-8000-000000000003', senderAddress: 'ada@contoso.com', recipientAddress: 'grace@sub.contoso.com', messageId: '<c3@contoso.com>', receivedDateTime: '2026-11-18T14:39:30.5Z', subject: 'Quarterly numbers', size: 5120, fromIP: '198.51.100.21', status: 'Quarantined' } }),
  ];
}

/** `n` distinct events (for batching tests). */
export function manyEvents(n: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push(makeEvent({ tenantId: TENANT, sourceId: 'contoso', api: 'graph/v1.0', collectedAt: '2026-11-18T14:40:00.000Z', fields: {}, row: { id: `id-${i}`, senderAddress: `s${i}@fabrikam.com`, recipientAddress: `r${i}@contoso.com`, receivedDateTime: new Date(Date.UTC(2026, 10, 18, 14, 0, i % 60)).toISOString(), subject: `subject ${i} ${'x'.repeat(100)}`, size: 1000 + i, status: 'delivered' } }));
  }
  return out;
}
