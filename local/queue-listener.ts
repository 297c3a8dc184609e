/**
 * The storage queue trigger, after the real QueueListener / QueueProcessor
 * (Azure/azure-sdk-for-net sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues) and
 * host.json `extensions.queues` (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger):
 * - fetch `batchSize` messages at a time and run them concurrently; fetch again when the number in
 *   flight drops to `newBatchThreshold`;
 * - poll again at once while messages keep coming, back off (randomised, exponential) up to
 *   `maxPollingInterval` when idle;
 * - hold each message invisible while its invocation runs (renewing the lock);
 * - success: delete; failure: visible again after `visibilityTimeout`; after `maxDequeueCount`
 *   attempts: copy the body unchanged to `<queue>-poison` and delete it;
 * - `messageEncoding: base64`: a body that is not valid base64 fails binding (a failed attempt).
 *
 * Delays that are part of the app's semantics (visibilityTimeout, polling back-off) are clock time
 * converted with `clock.toRealMs`; the polling floor is 100 ms of real time (the host's minimum).
 */
import { randomUUID } from 'node:crypto';
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import type { Clock } from '../shared/time/clock';
import { readSettings } from '../shared/settings';
import type { QueueHostOptions } from './host-config';
import type { HostLog } from './invoker';
import type { RpcTypedData } from './core-api';

const MIN_POLL_REAL_MS = 100;
/** The host receives messages for 10 minutes and renews the lock while the function runs. */
const LOCK_CLOCK_MS = 10 * 60_000;

export class MessageBindingError extends Error {
  override name = 'MessageBindingError';
}

/** Strict base64 (like .NET Convert.FromBase64String): whitespace ignored, padding required. */
export function decodeBase64Message(text: string): string {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new MessageBindingError(
      'The queue message is not valid base64. host.json extensions.queues.messageEncoding is "base64", so producers must send ' +
        'Buffer.from(text).toString("base64") (or set messageEncoding to "none")',
    );
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

export interface QueueMessageInvocation {
  /** The trigger payload as the host sends it to the worker. */
  data: RpcTypedData;
  /** Trigger metadata as the host sends it (PascalCase keys; the library camel-cases them). */
  triggerMetadata: Record<string, RpcTypedData>;
}

export interface QueueListenerOptions {
  functionName: string;
  queue: QueueClient;
  poison: QueueClient;
  options: QueueHostOptions;
  clock: Clock;
  log: HostLog;
  /** Runs the function for one message; rejects on failure. */
  invoke(message: QueueMessageInvocation): Promise<void>;
  /** Called when an attempt fails before the function ran (binding error), for the host's stats. */
  onBindingFailure(err: Error): void;
  onPoison(): void;
}

function json(value: unknown): RpcTypedData {
  return { json: JSON.stringify(value) };
}

export class QueueListener {
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly running = new Set<Promise<void>>();
  private loop?: Promise<void>;
  private backoffMs = 0;

  constructor(private readonly o: QueueListenerOptions) {}

  get queueName(): string {
    return this.o.queue.name;
  }
  get poisonQueueName(): string {
    return this.o.poison.name;
  }
  get busy(): number {
    return this.inFlight;
  }

  /** Messages in the queue, visible or not (the service's approximate count). */
  async messageCount(): Promise<number> {
    const props = await this.o.queue.getProperties();
    return props.approximateMessagesCount ?? 0;
  }

  async prepare(): Promise<void> {
    // The real host creates the trigger's queue when it is missing.
    await this.o.queue.createIfNotExists();
  }

  start(signal: AbortSignal): void {
    signal.addEventListener('abort', () => this.releaseWaiters(), { once: true });
    this.loop = this.poll(signal).catch((err) => {
      this.o.log('error', `Queue listener for ${this.o.functionName} stopped: ${(err as Error).message}`, { function: this.o.functionName });
    });
  }

  /** Resolves when polling has ended (signal aborted) and every running invocation finished. */
  async stopped(): Promise<void> {
    await this.loop;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private releaseWaiters(): void {
    for (const w of this.slotWaiters.splice(0)) w();
  }

  private lockSeconds(): number {
    // Real seconds: at least 30 s so a lock never lapses between renewals, at most the host's 10 minutes.
    // MTC_LOCAL_LOCK_SECONDS sets the lock for crash tests, so a killed host's messages come back sooner.
    const forced = readSettings(process.env).localLockSeconds;
    if (forced !== undefined) return forced;
    return Math.min(600, Math.max(30, Math.ceil(this.o.clock.toRealMs(LOCK_CLOCK_MS) / 1000)));
  }

  private idleDelayRealMs(): number {
    const max = Math.max(MIN_POLL_REAL_MS, this.o.clock.toRealMs(this.o.options.maxPollingIntervalMs));
    const maxReal = Math.min(max, this.o.options.maxPollingIntervalMs);
    this.backoffMs = this.backoffMs === 0 ? MIN_POLL_REAL_MS : Math.min(maxReal, this.backoffMs * 2);
    // Randomised like the host's RandomizedExponentialBackoffStrategy: between 80% and 100%.
    return Math.max(MIN_POLL_REAL_MS, Math.round(this.backoffMs * (0.8 + Math.random() * 0.2)));
  }

  private async poll(signal: AbortSignal): Promise<void> {
    const { options, queue, functionName } = this.o;
    while (!signal.aborted) {
      if (this.inFlight > options.newBatchThreshold) {
        await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        const res = await queue.receiveMessages({ numberOfMessages: options.batchSize, visibilityTimeout: this.lockSeconds(), abortSignal: signal });
        messages = res.receivedMessageItems;
      } catch (err) {
        if (signal.aborted) break;
        this.o.log('warn', `Queue trigger ${functionName}: receiving from ${queue.name} failed (${(err as Error).message.split('\n')[0]}); retrying`, { function: functionName, queue: queue.name });
        await realSleep(this.idleDelayRealMs(), signal);
        continue;
      }
      if (messages.length === 0) {
        await realSleep(this.idleDelayRealMs(), signal);
        continue;
      }
      this.backoffMs = 0;
      for (const m of messages) {
        this.inFlight += 1;
        const p = this.process(m).finally(() => {
          this.inFlight -= 1;
          this.running.delete(p);
          this.slotWaiters.shift()?.();
        });
        this.running.add(p);
      }
    }
  }

  /** Handles one message; never rejects (failures are logged and left to the queue's retry). */
  private async process(message: DequeuedMessageItem): Promise<void> {
    try {
      await this.processMessage(message);
    } catch (err) {
      this.o.log('error', `Queue trigger ${this.o.functionName}: handling message ${message.messageId} failed (${(err as Error).message.split('\n')[0]}); it becomes visible again when its lock expires`, {
        function: this.o.functionName,
        queue: this.o.queue.name,
        messageId: message.messageId,
      });
    }
  }

  private async processMessage(message: DequeuedMessageItem): Promise<void> {
    const { options, functionName, queue } = this.o;
    const tag = { function: functionName, queue: queue.name, messageId: message.messageId, dequeueCount: message.dequeueCount };
    let popReceipt = message.popReceipt;
    if (message.dequeueCount > options.maxDequeueCount) {
      // Dequeued more often than allowed (e.g. the host died mid-run): poison it without running.
      await this.moveToPoison(message, popReceipt);
      return;
    }
    const lockSeconds = this.lockSeconds();
    let renewing = Promise.resolve();
    const renew = setInterval(() => {
      renewing = renewing.then(async () => {
        try {
          const r = await queue.updateMessage(message.messageId, popReceipt, undefined, lockSeconds);
          if (r.popReceipt) popReceipt = r.popReceipt;
        } catch (err) {
          this.o.log('warn', `Queue trigger ${functionName}: renewing the lock on message ${message.messageId} failed (${(err as Error).message.split('\n')[0]})`, tag);
        }
      });
    }, (lockSeconds * 1000) / 2);
    let ok = false;
    try {
      let text: string;
      try {
        text = options.messageEncoding === 'base64' ? decodeBase64Message(message.messageText) : message.messageText;
      } catch (err) {
        this.o.onBindingFailure(err as Error);
        this.o.log('error', `Queue trigger ${functionName} failed to bind message ${message.messageId} (attempt ${message.dequeueCount} of ${options.maxDequeueCount}): ${(err as Error).message}`, tag);
        throw err;
      }
      await this.o.invoke({
        data: { string: text },
        triggerMetadata: {
          QueueTrigger: { string: text },
          DequeueCount: { int: message.dequeueCount },
          Id: json(message.messageId),
          PopReceipt: json(message.popReceipt),
          InsertionTime: json(message.insertedOn.toISOString()),
          ExpirationTime: json(message.expiresOn.toISOString()),
          NextVisibleTime: json(message.nextVisibleOn.toISOString()),
          sys: json({ MethodName: functionName, UtcNow: new Date(this.o.clock.now()).toISOString(), RandGuid: randomUUID() }),
        },
      });
      ok = true;
    } catch {
      // Logged by the host (invocation failure) or above (binding failure).
    } finally {
      clearInterval(renew);
      await renewing;
    }
    try {
      if (ok) {
        await queue.deleteMessage(message.messageId, popReceipt);
      } else if (message.dequeueCount >= options.maxDequeueCount) {
        await this.moveToPoison(message, popReceipt);
      } else {
        const delaySeconds = Math.max(0, Math.round(this.o.clock.toRealMs(options.visibilityTimeoutMs) / 1000));
        await queue.updateMessage(message.messageId, popReceipt, undefined, delaySeconds);
      }
    } catch (err) {
      this.o.log('error', `Queue trigger ${functionName}: completing message ${message.messageId} failed (${(err as Error).message.split('\n')[0]}); it becomes visible again when its lock expires`, tag);
    }
  }

  private async moveToPoison(message: DequeuedMessageItem, popReceipt: string): Promise<void> {
    const { functionName, queue, poison } = this.o;
    await poison.createIfNotExists();
    await poison.sendMessage(message.messageText);
    await queue.deleteMessage(message.messageId, popReceipt);
    this.o.onPoison();
    this.o.log('warn', `Message ${message.messageId} has reached MaxDequeueCount of ${this.o.options.maxDequeueCount}; moved to queue ${poison.name}`, {
      function: functionName,
      queue: queue.name,
      poisonQueue: poison.name,
      messageId: message.messageId,
    });
  }
}

function realSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
