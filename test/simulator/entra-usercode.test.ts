/**
 * The simulator's delegated flows: the scripted authorize redirect, authorization code redemption
 * (single use, 10 minutes, redirect_uri, PKCE) and refresh tokens (rotation, 90-day inactivity,
 * revocation), on the v2 and v1 endpoints.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { ManualClock } from '../../shared/time/clock';
import { EntraSimulator, type EntraTenant } from '../../simulator/entra';
import { decodeJwt } from '../../simulator/jwt';

const TID = '7a1c2b7e-3333-4a2b-9c3d-0123456789ab';
const APP = '5e8d7c6b-cccc-4bbb-8ccc-333333333333';
const PUBLIC_APP = '5e8d7c6b-dddd-4bbb-8ccc-444444444444';
const SECRET = 'user~flow.Secret_42';
const EXO = 'https://outlook.office365.com';
const REDIRECT = 'https://localhost';
const T0 = Date.parse('2026-03-02T08:00:00Z');
const DAY = 24 * 3600 * 1000;

interface Harness {
  clock: ManualClock;
  sim: EntraSimulator;
  base: string;
  server: http.Server;
  post(path: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
}

function tenants(): EntraTenant[] {
  return [{
    tenantId: TID,
    apps: [
      {
        clientId: APP,
        clientSecret: SECRET,
        redirectUris: [REDIRECT, 'https://collector.example/callback'],
        appRoles: { [EXO]: ['ReportingWebService.Read.All'] },
        delegatedScopes: { [EXO]: ['ReportingWebService.Read'], 'https://graph.microsoft.com': ['User.Read'] },
      },
      { clientId: PUBLIC_APP, redirectUris: ['http://localhost:8400'], appRoles: {}, delegatedScopes: { [EXO]: ['ReportingWebService.Read'] } },
    ],
  }];
}

async function start(opts: Partial<ConstructorParameters<typeof EntraSimulator>[0]> = {}): Promise<Harness> {
  const clock = new ManualClock(T0);
  const sim = new EntraSimulator({ clock, tenants: tenants(), ...opts });
  const server = http.createServer((req, res) => {
    void sim.handle(req, res, new URL(req.url ?? '/', 'http://localhost')).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sim.setBaseUrl(base);
  return {
    clock,
    sim,
    base,
    server,
    async post(path, form) {
      const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
  };
}

/** Follows the authorize endpoint's redirect and returns its query parameters. */
async function authorize(h: Harness, path: string, query: Record<string, string>): Promise<URLSearchParams> {
  const r = await fetch(`${h.base}${path}?${new URLSearchParams(query).toString()}`, { redirect: 'manual' });
  assert.equal(r.status, 302, await r.clone().text());
  return new URL(r.headers.get('location')!).searchParams;
}

function code(body: Record<string, unknown>): number {
  return (body.error_codes as number[])[0]!;
}

const V2_SCOPE = `${EXO}/.default offline_access`;

async function v2Code(h: Harness, extra: Record<string, string> = {}): Promise<string> {
  const q = await authorize(h, `/${TID}/oauth2/v2.0/authorize`, { client_id: APP, response_type: 'code', redirect_uri: REDIRECT, scope: V2_SCOPE, state: 's1', ...extra });
  return q.get('code')!;
}

function redeem(h: Harness, c: string, extra: Record<string, string> = {}) {
  return h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'authorization_code', client_id: APP, client_secret: SECRET, code: c, redirect_uri: REDIRECT, scope: V2_SCOPE, ...extra });
}

function refresh(h: Harness, rt: string, v: 'v1' | 'v2' = 'v2') {
  return v === 'v2'
    ? h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'refresh_token', client_id: APP, client_secret: SECRET, refresh_token: rt, scope: V2_SCOPE })
    : h.post(`/${TID}/oauth2/token`, { grant_type: 'refresh_token', client_id: APP, client_secret: SECRET, refresh_token: rt, resource: EXO });
}

describe('authorization code', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.server.close());

  test('authorize redirects to the redirect_uri with code, state and session_state, and the code redeems for a delegated token and a refresh token', async () => {
    const q = await authorize(h, `/${TID}/oauth2/v2.0/authorize`, { client_id: APP, response_type: 'code', redirect_uri: REDIRECT, scope: V2_SCOPE, state: 'xyz' });
    assert.equal(q.get('state'), 'xyz');
    assert.match(q.get('session_state') ?? '', /^[0-9a-f-]{36}$/);
    const c = q.get('code')!;
    assert.ok(c.length > 700, 'codes are long, as Entra\'s are');
    const r = await redeem(h, c);
    assert.equal(r.status, 200);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.scope, `${EXO}/ReportingWebService.Read`);
    assert.equal(typeof r.body.refresh_token, 'string');
    const claims = decodeJwt(r.body.access_token as string).payload;
    assert.equal(claims.aud, EXO);
    assert.equal(claims.scp, 'ReportingWebService.Read');
    assert.equal('roles' in claims, false);
    const check = h.sim.verifyAccessToken(`Bearer ${r.body.access_token as string}`, EXO);
    assert.equal(check.ok && check.claims.scp, 'ReportingWebService.Read');
  });

  test('a code redeems only once (AADSTS54005)', async () => {
    const c = await v2Code(h);
    assert.equal((await redeem(h, c)).status, 200);
    const again = await redeem(h, c);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    assert.equal(code(again.body), 54005);
  });

  test('a code expires after 10 minutes of clock time (AADSTS70008)', async () => {
    const c = await v2Code(h);
    h.clock.advance(10 * 60 * 1000);
    const r = await redeem(h, c);
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(code(r.body), 70008);
    assert.match(String(r.body.error_description), /^AADSTS70008: The provided authorization code or refresh token has expired due to inactivity/);
  });

  test('redemption must repeat the redirect_uri the code was issued for (AADSTS500112), and authorize refuses unregistered ones', async () => {
    const c = await v2Code(h);
    const r = await redeem(h, c, { redirect_uri: 'https://collector.example/callback' });
    assert.equal(code(r.body), 500112);
    const bad = await fetch(`${h.base}/${TID}/oauth2/v2.0/authorize?${new URLSearchParams({ client_id: APP, response_type: 'code', redirect_uri: 'https://evil.example', scope: V2_SCOPE })}`, { redirect: 'manual' });
    assert.equal(bad.status, 400);
    assert.equal(code((await bad.json()) as Record<string, unknown>), 50011);
  });

  test('without offline_access the v2 endpoint returns no refresh token', async () => {
    const q = await authorize(h, `/${TID}/oauth2/v2.0/authorize`, { client_id: APP, response_type: 'code', redirect_uri: REDIRECT, scope: `${EXO}/.default` });
    const r = await redeem(h, q.get('code')!, { scope: `${EXO}/.default` });
    assert.equal(r.status, 200);
    assert.equal('refresh_token' in r.body, false);
  });

  test('the v1 flow (resource, as Sumo Logic uses) always returns a refresh token and v1 fields', async () => {
    const q = await authorize(h, '/common/oauth2/authorize', { client_id: APP, response_type: 'code', redirect_uri: REDIRECT, resource: EXO });
    const r = await h.post(`/${TID}/oauth2/token`, { grant_type: 'authorization_code', client_id: APP, client_secret: SECRET, code: q.get('code')!, redirect_uri: REDIRECT, resource: EXO });
    assert.equal(r.status, 200);
    assert.equal(r.body.resource, EXO);
    assert.equal(typeof r.body.refresh_token, 'string');
    assert.equal(typeof r.body.expires_on, 'string');
    assert.equal(decodeJwt(r.body.access_token as string).payload.iss, `https://sts.windows.net/${TID}/`);
  });

  test('a scope the app was not consented for is invalid_grant AADSTS65001', async () => {
    const q = await authorize(h, `/${TID}/oauth2/v2.0/authorize`, { client_id: APP, response_type: 'code', redirect_uri: REDIRECT, scope: `${EXO}/Mail.Send offline_access` });
    const r = await redeem(h, q.get('code')!, { scope: `${EXO}/Mail.Send offline_access` });
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(code(r.body), 65001);
  });

  test('a confidential client must authenticate; a public client redeems with PKCE and a wrong verifier fails', async () => {
    const c = await v2Code(h);
    const noSecret = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'authorization_code', client_id: APP, code: c, redirect_uri: REDIRECT, scope: V2_SCOPE });
    assert.equal(code(noSecret.body), 7000218);

    const verifier = 'a'.repeat(43);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const q = { client_id: PUBLIC_APP, response_type: 'code', redirect_uri: 'http://localhost:8400', scope: V2_SCOPE, code_challenge: challenge, code_challenge_method: 'S256' };
    const c1 = (await authorize(h, `/${TID}/oauth2/v2.0/authorize`, q)).get('code')!;
    const wrong = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'authorization_code', client_id: PUBLIC_APP, code: c1, redirect_uri: 'http://localhost:8400', code_verifier: 'b'.repeat(43) });
    assert.equal(code(wrong.body), 501481);
    const c2 = (await authorize(h, `/${TID}/oauth2/v2.0/authorize`, q)).get('code')!;
    const ok = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'authorization_code', client_id: PUBLIC_APP, code: c2, redirect_uri: 'http://localhost:8400', code_verifier: verifier });
    assert.equal(ok.status, 200);
  });

  test('issueAuthorizationCode mints a code a test can redeem without the redirect', async () => {
    const c = h.sim.issueAuthorizationCode(TID, APP, REDIRECT, V2_SCOPE);
    assert.equal((await redeem(h, c)).status, 200);
    assert.throws(() => h.sim.issueAuthorizationCode(TID, APP, 'https://unregistered.example', V2_SCOPE), /not registered/);
    assert.throws(() => h.sim.issueAuthorizationCode(TID, 'nope', REDIRECT, V2_SCOPE), /unknown client/);
  });
});

describe('refresh tokens', () => {
  test('every refresh returns a new refresh token and, by default, the redeemed one is rejected', async () => {
    const h = await start();
    try {
      const first = await redeem(h, await v2Code(h));
      const rt1 = first.body.refresh_token as string;
      const second = await refresh(h, rt1);
      assert.equal(second.status, 200);
      const rt2 = second.body.refresh_token as string;
      assert.notEqual(rt2, rt1);
      const reuse = await refresh(h, rt1);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.body.error, 'invalid_grant');
      assert.match(String(reuse.body.error_description), /already redeemed.*store and use the newest refresh token/);
      const third = await refresh(h, rt2, 'v1');
      assert.equal(third.status, 200);
      assert.equal(third.body.resource, EXO);
      assert.notEqual(third.body.refresh_token, rt2);
    } finally {
      h.server.close();
    }
  });

  test('with refreshTokenReuse allow, a redeemed refresh token stays valid as in Entra', async () => {
    const h = await start({ refreshTokenReuse: 'allow' });
    try {
      const rt1 = (await redeem(h, await v2Code(h))).body.refresh_token as string;
      assert.equal((await refresh(h, rt1)).status, 200);
      assert.equal((await refresh(h, rt1)).status, 200);
    } finally {
      h.server.close();
    }
  });

  test('a refresh token expires after 90 days of clock time without use, and each new one gets 90 days from its issue', async () => {
    const h = await start();
    try {
      const rt1 = (await redeem(h, await v2Code(h))).body.refresh_token as string;
      h.clock.advance(89 * DAY);
      const r2 = await refresh(h, rt1);
      assert.equal(r2.status, 200);
      const rt2 = r2.body.refresh_token as string;
      h.clock.advance(89 * DAY);
      const r3 = await refresh(h, rt2);
      assert.equal(r3.status, 200);
      h.clock.advance(90 * DAY);
      const expired = await refresh(h, r3.body.refresh_token as string);
      assert.equal(expired.body.error, 'invalid_grant');
      assert.equal(code(expired.body), 70008);
    } finally {
      h.server.close();
    }
  });

  test('revokeRefreshTokens makes every outstanding refresh token of the app fail with AADSTS70008', async () => {
    const h = await start({ refreshTokenReuse: 'allow' });
    try {
      const a = (await redeem(h, await v2Code(h))).body.refresh_token as string;
      const b = (await redeem(h, await v2Code(h))).body.refresh_token as string;
      h.sim.revokeRefreshTokens(TID, APP);
      for (const rt of [a, b]) {
        const r = await refresh(h, rt);
        assert.equal(r.body.error, 'invalid_grant');
        assert.match(String(r.body.error_description), /^AADSTS70008: The provided authorization code or refresh token has expired due to inactivity/);
      }
      const s = h.sim.stats().byTenant[TID]!;
      assert.equal(s.byGrant.authorization_code, 2);
      assert.equal(s.byGrant.refresh_token, 2);
      assert.equal(s.failed, 2);
    } finally {
      h.server.close();
    }
  });

  test('an unknown refresh token is "Invalid request. Request is malformed or invalid." (AADSTS9002313)', async () => {
    const h = await start();
    try {
      const r = await refresh(h, 'not-a-refresh-token');
      assert.equal(r.body.error, 'invalid_grant');
      assert.equal(code(r.body), 9002313);
      assert.match(String(r.body.error_description), /Invalid request\. Request is malformed or invalid\./);
      assert.equal(JSON.stringify(r.body).includes('not-a-refresh-token'), false);
    } finally {
      h.server.close();
    }
  });
});
