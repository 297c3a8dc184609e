/** The parent side of bench/sim-process.ts: start, ask for stats and ground-truth counts, stop. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { SimulatorOptions } from '../simulator';
import type { AcceleratedClock } from '../shared/time/clock';
import type { SimReply, SimRequest } from './sim-process';

export interface RemoteSimulator {
  baseUrl: string;
  tenants: { tenantId: string; clientId: string; clientSecret: string }[];
  stats(): Promise<Record<string, { requests: number; listRequests: number; throttled: number }>>;
  count(tenantId: string, startMs: number, endMs: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startRemoteSimulator(clock: AcceleratedClock, wallAtStart: number, options: Omit<SimulatorOptions, 'clock'>): Promise<RemoteSimulator> {
  const child: ChildProcess = fork(path.join(__dirname, 'sim-process.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 1;
  const waiting = new Map<number, (m: SimReply) => void>();
  let onReady: ((m: SimReply) => void) | undefined;
  child.on('message', (raw) => {
    const m = raw as SimReply;
    if (m.type === 'ready' || m.type === 'error') onReady?.(m);
    if ((m.type === 'stats' || m.type === 'count') && waiting.has(m.id)) {
      waiting.get(m.id)!(m);
      waiting.delete(m.id);
    }
  });
  const send = (m: SimRequest) => child.send(m);
  const ready = await new Promise<SimReply>((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`the simulator process exited (${code}) before it was ready`)));
    send({ type: 'start', clock: { startAt: clock.startAt, factor: clock.factor, wallAtStart }, options });
  });
  if (ready.type !== 'ready') throw new Error(`the simulator did not start: ${ready.type === 'error' ? ready.message : ready.type}`);
  const ask = <T extends SimReply>(m: SimRequest & { id: number }) => new Promise<T>((resolve) => {
    waiting.set(m.id, (r) => resolve(r as T));
    send(m);
  });
  return {
    baseUrl: ready.baseUrl,
    tenants: ready.tenants,
    async stats() {
      return (await ask<Extract<SimReply, { type: 'stats' }>>({ type: 'stats', id: nextId++ })).stats;
    },
    async count(tenantId, startMs, endMs) {
      return (await ask<Extract<SimReply, { type: 'count' }>>({ type: 'count', id: nextId++, tenantId, startMs, endMs })).count;
    },
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      send({ type: 'stop' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill();
    },
  };
}

/** A client-credentials token from the simulator's Entra endpoint, cached until shortly before expiry. */
export class SimulatorToken {
  private cached?: { token: string; expiresAt: number };
  constructor(private readonly baseUrl: string, private readonly tenantId: string, private readonly clientId: string, private readonly secret: string) {}
  async get(): Promise<string> {
    const now = Date.now();
    if (this.cached && this.cached.expiresAt > now + 60_000) return this.cached.token;
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.clientId, client_secret: this.secret, scope: 'https://graph.microsoft.com/.default' });
    const r = await fetch(`${this.baseUrl}/${this.tenantId}/oauth2/v2.0/token`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const j = (await r.json()) as { access_token?: string; expires_in?: number; error_description?: string };
    if (!j.access_token) throw new Error(`token request failed (${r.status}): ${j.error_description ?? 'no access_token'}`);
    // expires_in is in (accelerated) clock seconds; refresh well before that in real time.
    this.cached = { token: j.access_token, expiresAt: now + 30_000 };
    return j.access_token;
  }
}
