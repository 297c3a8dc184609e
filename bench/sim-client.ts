/** A client-credentials token from the simulator's Entra endpoint (used by the baseline's plain fetch loop). */
export class SimulatorToken {
  private cached?: { token: string; expiresAt: number };
  constructor(private readonly baseUrl: string, private readonly tenantId: string, private readonly clientId: string, private readonly secret: string) {}
  /** Drops the cached token (after a 401: it expired in simulated time). */
  invalidate(): void {
    this.cached = undefined;
  }

  async get(): Promise<string> {
    const now = Date.now();
    if (this.cached && this.cached.expiresAt > now) return this.cached.token;
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.clientId, client_secret: this.secret, scope: 'https://graph.microsoft.com/.default' });
    const r = await fetch(`${this.baseUrl}/${this.tenantId}/oauth2/v2.0/token`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const j = (await r.json()) as { access_token?: string; expires_in?: number; error_description?: string };
    if (!j.access_token) throw new Error(`token request failed (${r.status}): ${j.error_description ?? 'no access_token'}`);
    // The token lives a simulated day (the bench simulator's tokenLifetimeSec); a virtual-time run
    // takes minutes of real time, so refreshing every 5 real minutes is well inside it.
    this.cached = { token: j.access_token, expiresAt: now + 300_000 };
    return j.access_token;
  }
}
