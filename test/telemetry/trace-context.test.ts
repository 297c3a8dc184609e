/**
 * The W3C traceparent across the queue hop: JobQueue.send stamps the active span's traceparent on
 * every job (planner, backfill, continuation, retry), and withSpan continues it on the other side.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { QueueClient } from '@azure/storage-queue';
import { registerInMemoryOtel } from './otel';
import { JobQueue, decodeJob, type PageJob } from '../../shared/queue/jobs';
import { ManualClock } from '../../shared/time/clock';
import { currentTraceparent, parseTraceparent, withSpan } from '../../shared/telemetry';

const otel = registerInMemoryOtel();
after(() => otel.shutdown());

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = `00-${TRACE}-b7ad6b7169203331-01`;
const HOST = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function recordingQueue(): { queue: JobQueue; sent: PageJob[] } {
  const sent: PageJob[] = [];
  const client = {
    sendMessage: async (text: string) => {
      sent.push(JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as PageJob);
      return {};
    },
  } as unknown as QueueClient;
  return { queue: new JobQueue(client, new ManualClock(Date.UTC(2026, 0, 1))), sent };
}

const job: PageJob = { v: 1, sourceId: 'contoso', sliceId: 'L-1-2', page: 0, attempt: 0 };

test('a job enqueued inside a span carries that span\'s traceparent, replacing the one it had', async () => {
  const { queue, sent } = recordingQueue();
  let expected = '';
  await withSpan('enqueuer', {}, async () => {
    expected = currentTraceparent()!;
    await queue.send(job);
    await queue.send({ ...job, page: 1, traceparent: PARENT });
  });
  assert.match(expected, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.deepEqual(sent.map((j) => j.traceparent), [expected, expected]);
});

test('a job enqueued outside any span keeps its own traceparent, or has none', async () => {
  const { queue, sent } = recordingQueue();
  await queue.send({ ...job, traceparent: PARENT });
  await queue.send(job);
  assert.equal(sent[0]!.traceparent, PARENT);
  assert.equal('traceparent' in sent[1]!, false);
});

test('the job span is the child of the job\'s traceparent and linked to the host invocation', async () => {
  await withSpan('mtc.page', { parent: PARENT, invocation: HOST, kind: SpanKind.CONSUMER, attributes: { 'mtc.page': 3 } }, async (span) => {
    assert.equal(trace.getActiveSpan(), span);
    assert.equal(currentTraceparent()!.split('-')[1], TRACE, 'jobs enqueued here stay in the trace');
  });
  const s = otel.spans().at(-1)!;
  assert.equal(s.spanContext().traceId, TRACE);
  assert.equal(s.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.equal(s.kind, SpanKind.CONSUMER);
  assert.deepEqual(s.links.map((l) => l.context.traceId), ['4bf92f3577b34da6a3ce929d0e0e4736']);
  assert.equal(s.attributes['mtc.page'], 3);
});

test('without a job traceparent the host invocation is the parent; a malformed one starts a new trace', async () => {
  await withSpan('a', { invocation: HOST }, async () => {});
  assert.equal(otel.spans().at(-1)!.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  await withSpan('b', { parent: '00-zz-not-a-traceparent', invocation: 'garbage' }, async () => {});
  const b = otel.spans().at(-1)!;
  assert.equal(b.parentSpanContext, undefined);
  assert.deepEqual(b.links, []);
  // A page job with a malformed traceparent is still a valid job (it just starts a new trace).
  assert.equal(decodeJob({ ...job, traceparent: 'not-a-traceparent' }).traceparent, 'not-a-traceparent');
});

test('traceparent parsing accepts only version 00 with non-zero ids', () => {
  assert.deepEqual(parseTraceparent(PARENT), { traceId: TRACE, spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-b7ad6b7169203331-01`), undefined);
  assert.equal(parseTraceparent(`ff-${TRACE}-b7ad6b7169203331-01`), undefined);
  assert.equal(parseTraceparent(undefined), undefined);
  assert.equal(parseTraceparent(`00-${TRACE}-b7ad6b7169203331-00`)?.traceFlags, 0);
});

test('a span whose work throws ends with status ERROR and the error is rethrown', async () => {
  await assert.rejects(withSpan('failing', {}, async () => {
    throw new Error('boom');
  }), /boom/);
  const s = otel.spans().at(-1)!;
  assert.equal(s.name, 'failing');
  assert.equal(s.status.code, SpanStatusCode.ERROR);
  assert.equal(s.events[0]?.name, 'exception');
});
