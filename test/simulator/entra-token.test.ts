/**
 * The simulator's Entra token service over raw HTTP: client credentials (secret and certificate
 * assertion), v1 and v2 response shapes, AADSTS errors, token verification, discovery, stats.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants, createPrivateKey, createPublicKey, randomUUID, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { ManualClock } from '../../shared/time/clock';
import { EntraSimulator, CLIENT_ASSERTION_TYPE_JWT_BEARER, type EntraTenant } from '../../simulator/entra';
import { certificateThumbprints, decodeJwt } from '../../simulator/jwt';
import { createSelfSignedCertificate } from '../../simulator/tls';

const TID = '6f1c2b7e-1111-4a2b-9c3d-0123456789ab';
const OTHER_TID = '0a0b0c0d-2222-4a2b-9c3d-0123456789ab';
const APP = '9e8d7c6b-aaaa-4bbb-8ccc-111111111111';
const CERT_APP = '9e8d7c6b-bbbb-4bbb-8ccc-222222222222';
const SECRET = 'sim~Secret.Value_0123456789';
const GRAPH = 'https://graph.microsoft.com';
const EXO = 'https://outlook.office365.com';
const T0 = Date.parse('2026-03-01T12:00:00Z');

interface Harness {
  clock: ManualClock;
  sim: EntraSimulator;
  base: string;
  server: http.Server;
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; text: string }>;
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
}

let clientCert: { keyPem: string; certPem: string };
let otherCert: { keyPem: string; certPem: string };

async function start(tenants: EntraTenant[], opts: Partial<ConstructorParameters<typeof EntraSimulator>[0]> = {}): Promise<Harness> {
  const clock = new ManualClock(T0);
  const sim = new EntraSimulator({ clock, tenants, ...opts });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    void sim.handle(req, res, url).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end('not entra');
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
    async post(path, form, headers = {}) {
      const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
      const text = await r.text();
      return { status: r.status, body: JSON.parse(text) as Record<string, unknown>, text };
    },
    async get(path) {
      const r = await fetch(base + path);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
  };
}

function tenants(): EntraTenant[] {
  return [
    {
      tenantId: TID,
      domains: ['contoso.onmicrosoft.com'],
      apps: [
        { clientId: APP, clientSecret: SECRET, appRoles: { [GRAPH]: ['ExchangeMessageTrace.Read.All'], [EXO]: ['ReportingWebService.Read.All'] } },
        { clientId: CERT_APP, certificatePem: clientCert.certPem + clientCert.keyPem, appRoles: { [GRAPH + '/']: ['ExchangeMessageTrace.Read.All'] } },
      ],
    },
    { tenantId: OTHER_TID, apps: [] },
  ];
}

function b64url(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function assertion(opts: { alg?: 'RS256' | 'PS256'; key?: KeyObject; certPem?: string; claims?: Record<string, unknown>; header?: Record<string, unknown>; aud: string; now: number }): string {
  const alg = opts.alg ?? 'RS256';
  const der = new X509Certificate(opts.certPem ?? clientCert.certPem).raw;
  const tp = certificateThumbprints(der);
  const header = { alg, typ: 'JWT', ...(alg === 'PS256' ? { 'x5t#S256': tp.x5tS256 } : { x5t: tp.x5t }), ...opts.header };
  const nowSec = Math.floor(opts.now / 1000);
  const payload = { aud: opts.aud, iss: CERT_APP, sub: CERT_APP, jti: randomUUID(), nbf: nowSec, iat: nowSec, exp: nowSec + 600, ...opts.claims };
  const input = `${b64url(header)}.${b64url(payload)}`;
  const key = opts.key ?? createPrivateKey(clientCert.keyPem);
  const sig = alg === 'RS256'
    ? sign('sha256', Buffer.from(input), key)
    : sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return `${input}.${sig.toString('base64url')}`;
}

function certForm(a: string, scope = `${GRAPH}/.default`): Record<string, string> {
  return { grant_type: 'client_credentials', client_id: CERT_APP, scope, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: a };
}

function errorCode(body: Record<string, unknown>): number {
  return (body.error_codes as number[])[0]!;
}

before(async () => {
  clientCert = await createSelfSignedCertificate({ hosts: ['collector.client.example'] });
  otherCert = await createSelfSignedCertificate({ hosts: ['someone.else.example'] });
});

describe('client credentials with a secret', () => {
  let h: Harness;
  before(async () => {
    h = await start(tenants());
  });
  after(() => h.server.close());

  test('v2 returns a Bearer token whose claims come from the clock, the tenant and the app grants for that resource', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'ext_expires_in', 'token_type']);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.expires_in, 3599);
    assert.equal(r.body.ext_expires_in, 3599);
    const { header, payload } = decodeJwt(r.body.access_token as string);
    assert.equal(header.alg, 'RS256');
    assert.equal(payload.aud, GRAPH);
    assert.equal(payload.iss, `${h.base}/${TID}/v2.0`);
    assert.equal(payload.tid, TID);
    assert.equal(payload.appid, APP);
    assert.equal(payload.azp, APP);
    assert.deepEqual(payload.roles, ['ExchangeMessageTrace.Read.All']);
    assert.equal(payload.scp, undefined);
    assert.equal(payload.iat, T0 / 1000);
    assert.equal(payload.nbf, T0 / 1000);
    assert.equal(payload.exp, T0 / 1000 + 3599);
    assert.match(String(payload.oid), /^[0-9a-f-]{36}$/);
  });

  test('v1 with resource and HTTP Basic client authentication adds expires_on, not_before and resource, as strings like Entra v1', async () => {
    const basic = Buffer.from(`${encodeURIComponent(APP)}:${encodeURIComponent(SECRET)}`).toString('base64');
    const r = await h.post(`/${TID}/oauth2/token`, { grant_type: 'client_credentials', resource: EXO }, { authorization: `Basic ${basic}` });
    assert.equal(r.status, 200);
    assert.equal(r.body.resource, EXO);
    assert.equal(r.body.expires_in, '3599');
    assert.equal(r.body.expires_on, String(T0 / 1000 + 3599));
    assert.equal(r.body.not_before, String(T0 / 1000));
    const { payload } = decodeJwt(r.body.access_token as string);
    assert.equal(payload.iss, `https://sts.windows.net/${TID}/`);
    assert.equal(payload.aud, EXO);
    assert.deepEqual(payload.roles, ['ReportingWebService.Read.All']);
  });

  test('a verified domain is accepted in place of the tenant id', async () => {
    const r = await h.post('/contoso.onmicrosoft.com/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${EXO}/.default` });
    assert.equal(r.status, 200);
    assert.equal(decodeJwt(r.body.access_token as string).payload.tid, TID);
  });

  test('a token for a known resource the app holds no roles on omits the roles claim', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: 'https://vault.azure.net/.default' });
    assert.equal(r.status, 200);
    assert.equal('roles' in decodeJwt(r.body.access_token as string).payload, false);
  });

  test('a wrong secret is 401 invalid_client AADSTS7000215 in Entra\'s error shape, without echoing the secret', async () => {
    const wrong = 'wrong~Secret.Value_999';
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: wrong, scope: `${GRAPH}/.default` });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
    assert.deepEqual(r.body.error_codes, [7000215]);
    assert.match(String(r.body.error_description), /^AADSTS7000215: Invalid client secret provided\. Ensure the secret being sent in the request is the client secret value, not the client secret ID.*\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: 2026-03-01 12:00:00Z$/s);
    assert.equal(r.body.timestamp, '2026-03-01 12:00:00Z');
    assert.match(String(r.body.trace_id), /^[0-9a-f-]{36}$/);
    assert.match(String(r.body.correlation_id), /^[0-9a-f-]{36}$/);
    assert.equal(r.text.includes(wrong), false);
    assert.equal(r.text.includes(SECRET), false);
  });

  test('an unknown client is unauthorized_client AADSTS700016 naming the client and the directory', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: 'nope', client_secret: SECRET, scope: `${GRAPH}/.default` });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'unauthorized_client');
    assert.equal(errorCode(r.body), 700016);
    assert.match(String(r.body.error_description), new RegExp(`Application with identifier 'nope' was not found in the directory '${TID}'`));
  });

  test('an unknown tenant is invalid_request AADSTS90002', async () => {
    const r = await h.post('/deadbeef-0000-4000-8000-000000000000/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_request');
    assert.equal(errorCode(r.body), 90002);
    assert.match(String(r.body.error_description), /^AADSTS90002: Tenant 'deadbeef-0000-4000-8000-000000000000' not found/);
  });

  test('an app-only scope without /.default is AADSTS1002012 and scopes of two resources are AADSTS70011', async () => {
    const a = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/User.Read` });
    assert.equal(a.body.error, 'invalid_scope');
    assert.equal(errorCode(a.body), 1002012);
    const b = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default ${EXO}/.default` });
    assert.equal(b.body.error, 'invalid_scope');
    assert.equal(errorCode(b.body), 70011);
  });

  test('an unknown resource is invalid_resource AADSTS500011', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: 'https://unknown.example/.default' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_resource');
    assert.equal(errorCode(r.body), 500011);
  });

  test('each missing parameter is invalid_request AADSTS900144 naming it', async () => {
    const cases: [Record<string, string>, string, string][] = [
      [{ client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` }, 'grant_type', 'v2.0/'],
      [{ grant_type: 'client_credentials', client_secret: SECRET, scope: `${GRAPH}/.default` }, 'client_id', 'v2.0/'],
      [{ grant_type: 'client_credentials', client_id: APP, client_secret: SECRET }, 'scope', 'v2.0/'],
      [{ grant_type: 'client_credentials', client_id: APP, client_secret: SECRET }, 'resource', ''],
    ];
    for (const [form, name, v] of cases) {
      const r = await h.post(`/${TID}/oauth2/${v}token`, form);
      assert.equal(r.status, 400, name);
      assert.equal(r.body.error, 'invalid_request', name);
      assert.match(String(r.body.error_description), new RegExp(`^AADSTS900144: The request body must contain the following parameter: '${name}'\\.`), name);
    }
  });

  test('a JSON body is read as a body without parameters, as Entra does', async () => {
    const r = await fetch(`${h.base}/${TID}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials' }) });
    const body = (await r.json()) as Record<string, unknown>;
    assert.equal(r.status, 400);
    assert.equal(errorCode(body), 900144);
  });

  test('a client with no credential at all is told to send client_secret or client_assertion (AADSTS7000216)', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, scope: `${GRAPH}/.default` });
    assert.equal(r.status, 401);
    assert.equal(errorCode(r.body), 7000216);
  });

  test('an unsupported grant type is unsupported_grant_type AADSTS70003', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'password', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    assert.equal(r.body.error, 'unsupported_grant_type');
    assert.equal(errorCode(r.body), 70003);
  });

  test('a rotated secret replaces the old one', async () => {
    h.sim.setClientSecret(TID, APP, 'new-secret-value');
    try {
      const old = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
      assert.equal(errorCode(old.body), 7000215);
      const fresh = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: 'new-secret-value', scope: `${GRAPH}/.default` });
      assert.equal(fresh.status, 200);
    } finally {
      h.sim.setClientSecret(TID, APP, SECRET);
    }
  });
});

describe('client credentials with a certificate assertion', () => {
  let h: Harness;
  let v2aud: string;
  before(async () => {
    h = await start(tenants());
    v2aud = `${h.base}/${TID}/oauth2/v2.0/token`;
  });
  after(() => h.server.close());

  test('an RS256 assertion with an x5t SHA-1 thumbprint is accepted and marks the token as certificate-authenticated', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now: h.clock.now() })));
    assert.equal(r.status, 200, r.text);
    const { payload } = decodeJwt(r.body.access_token as string);
    assert.equal(payload.appidacr, '2');
    assert.deepEqual(payload.roles, ['ExchangeMessageTrace.Read.All']);
  });

  test('a PS256 assertion with an x5t#S256 thumbprint is accepted', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ alg: 'PS256', aud: v2aud, now: h.clock.now() })));
    assert.equal(r.status, 200, r.text);
  });

  test('the v1 endpoint wants the v1 token URL as aud, by tenant id or verified domain', async () => {
    for (const t of [TID, 'contoso.onmicrosoft.com']) {
      const a = assertion({ aud: `${h.base}/${t}/oauth2/token`, now: h.clock.now() });
      const r = await h.post(`/${t}/oauth2/token`, { grant_type: 'client_credentials', client_id: CERT_APP, resource: GRAPH, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: a });
      assert.equal(r.status, 200, r.text);
    }
    const wrong = await h.post(`/${TID}/oauth2/token`, { grant_type: 'client_credentials', client_id: CERT_APP, resource: GRAPH, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: assertion({ aud: v2aud, now: h.clock.now() }) });
    assert.equal(errorCode(wrong.body), 700023);
  });

  test('an assertion signed by a key other than the registered certificate\'s fails signature validation (AADSTS700027)', async () => {
    const a = assertion({ aud: v2aud, now: h.clock.now(), key: createPrivateKey(otherCert.keyPem) });
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(a));
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
    assert.equal(errorCode(r.body), 700027);
    assert.match(String(r.body.error_description), /failed signature validation/);
    assert.equal(r.text.includes(a), false);
    assert.equal(r.text.includes(a.split('.')[2]!), false);
  });

  test('an assertion whose thumbprint names an unregistered certificate is AADSTS700027 "not registered"', async () => {
    const a = assertion({ aud: v2aud, now: h.clock.now(), key: createPrivateKey(otherCert.keyPem), certPem: otherCert.certPem });
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(a));
    assert.equal(errorCode(r.body), 700027);
    assert.match(String(r.body.error_description), /not registered on application/);
  });

  test('an x5c header whose first certificate is not the registered one is rejected', async () => {
    const a = assertion({ aud: v2aud, now: h.clock.now(), header: { x5c: [new X509Certificate(otherCert.certPem).raw.toString('base64')] } });
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(a));
    assert.equal(errorCode(r.body), 700027);
  });

  test('an expired assertion is AADSTS700024, and so is one whose nbf is beyond the allowed skew', async () => {
    const now = h.clock.now();
    const expired = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now, claims: { exp: now / 1000 - 1 } })));
    assert.equal(errorCode(expired.body), 700024);
    const future = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now, claims: { nbf: now / 1000 + 600, exp: now / 1000 + 1200 } })));
    assert.equal(errorCode(future.body), 700024);
    const slightlyAhead = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now, claims: { nbf: now / 1000 + 60 } })));
    assert.equal(slightlyAhead.status, 200, slightlyAhead.text);
  });

  test('a replayed jti is rejected while the assertion lives, and a missing jti is rejected', async () => {
    const a = assertion({ aud: v2aud, now: h.clock.now() });
    assert.equal((await h.post(`/${TID}/oauth2/v2.0/token`, certForm(a))).status, 200);
    const replay = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(a));
    assert.equal(replay.status, 401);
    assert.equal(errorCode(replay.body), 50027);
    assert.match(String(replay.body.error_description), /already used/);
    const noJti = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now: h.clock.now(), claims: { jti: undefined } })));
    assert.equal(errorCode(noJti.body), 50027);
  });

  test('iss and sub must both be the client id (AADSTS700021)', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm(assertion({ aud: v2aud, now: h.clock.now(), claims: { sub: 'someone-else' } })));
    assert.equal(errorCode(r.body), 700021);
  });

  test('a malformed assertion is AADSTS50027 and a wrong assertion type is rejected', async () => {
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, certForm('not-a-jwt'));
    assert.equal(errorCode(r.body), 50027);
    const t = await h.post(`/${TID}/oauth2/v2.0/token`, { ...certForm(assertion({ aud: v2aud, now: h.clock.now() })), client_assertion_type: 'urn:other' });
    assert.equal(t.status, 400);
    assert.equal(errorCode(t.body), 50027);
  });
});

describe('verifyAccessToken', () => {
  let h: Harness;
  let token: string;
  before(async () => {
    h = await start(tenants(), { tokenLifetimeSec: 600 });
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    token = r.body.access_token as string;
  });
  after(() => h.server.close());

  test('accepts the audience with or without a trailing slash and returns the claims', () => {
    for (const aud of [GRAPH, `${GRAPH}/`]) {
      const c = h.sim.verifyAccessToken(`Bearer ${token}`, aud);
      assert.equal(c.ok, true);
      if (c.ok) {
        assert.equal(c.claims.tid, TID);
        assert.equal(c.claims.appid, APP);
        assert.deepEqual(c.claims.roles, ['ExchangeMessageTrace.Read.All']);
      }
    }
  });

  test('rejects another audience, a missing header, a tampered payload and a token signed by another simulator', async () => {
    const wrongAud = h.sim.verifyAccessToken(`Bearer ${token}`, EXO);
    assert.deepEqual(wrongAud.ok ? undefined : [wrongAud.status, wrongAud.code, wrongAud.reason], [401, 'InvalidAuthenticationToken', 'audience']);
    const missing = h.sim.verifyAccessToken(undefined, GRAPH);
    assert.equal(missing.ok ? undefined : missing.reason, 'missing');
    const [hd, , sig] = token.split('.');
    const forged = `${hd}.${b64url({ ...decodeJwt(token).payload, roles: ['Everything'] })}.${sig}`;
    const tampered = h.sim.verifyAccessToken(`Bearer ${forged}`, GRAPH);
    assert.equal(tampered.ok ? undefined : tampered.reason, 'signature');
    const other = await start(tenants());
    try {
      const r = await other.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
      const foreign = h.sim.verifyAccessToken(`Bearer ${r.body.access_token as string}`, GRAPH);
      assert.equal(foreign.ok ? undefined : foreign.reason, 'signature');
    } finally {
      other.server.close();
    }
    const garbage = h.sim.verifyAccessToken('Bearer abc.def', GRAPH);
    assert.equal(garbage.ok ? undefined : garbage.reason, 'malformed');
  });

  test('rejects the token once the clock reaches its exp', () => {
    assert.equal(h.sim.verifyAccessToken(`Bearer ${token}`, GRAPH).ok, true);
    h.clock.advance(600 * 1000);
    const c = h.sim.verifyAccessToken(`Bearer ${token}`, GRAPH);
    assert.equal(c.ok ? undefined : c.reason, 'expired');
    assert.equal(c.ok ? undefined : c.message, 'Lifetime validation failed, the token is expired.');
  });
});

describe('discovery, routing and stats', () => {
  let h: Harness;
  before(async () => {
    h = await start(tenants());
  });
  after(() => h.server.close());

  test('the v2 OpenID configuration names the simulator\'s own token, authorize and keys endpoints and issuer', async () => {
    const r = await h.get(`/${TID}/v2.0/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    assert.equal(r.body.issuer, `${h.base}/${TID}/v2.0`);
    assert.equal(r.body.token_endpoint, `${h.base}/${TID}/oauth2/v2.0/token`);
    assert.equal(r.body.authorization_endpoint, `${h.base}/${TID}/oauth2/v2.0/authorize`);
    assert.equal(r.body.jwks_uri, `${h.base}/${TID}/discovery/v2.0/keys`);
    const byDomain = await h.get('/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration');
    assert.equal(byDomain.body.token_endpoint, `${h.base}/${TID}/oauth2/v2.0/token`);
    const v1 = await h.get(`/${TID}/.well-known/openid-configuration`);
    assert.equal(v1.body.issuer, `https://sts.windows.net/${TID}/`);
    assert.equal((await h.get('/deadbeef-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration')).status, 400);
  });

  test('the JWKS holds the public key that verifies issued tokens', async () => {
    const keys = await h.get(`/${TID}/discovery/v2.0/keys`);
    const jwk = (keys.body.keys as Record<string, string>[])[0]!;
    const r = await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    const token = r.body.access_token as string;
    const [hd, pl, sig] = token.split('.') as [string, string, string];
    assert.equal(decodeJwt(token).header.kid, jwk.kid);
    const key = createPublicKey({ key: { kty: jwk.kty!, n: jwk.n!, e: jwk.e! }, format: 'jwk' });
    assert.equal(verify('sha256', Buffer.from(`${hd}.${pl}`), key, Buffer.from(sig, 'base64url')), true);
  });

  test('instance discovery answers with the simulator host as its own alias', async () => {
    const r = await h.get(`/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(`${h.base}/${TID}/oauth2/v2.0/authorize`)}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.tenant_discovery_endpoint, `${h.base}/${TID}/v2.0/.well-known/openid-configuration`);
    const host = new URL(h.base).host;
    assert.deepEqual(r.body.metadata, [{ preferred_network: host, preferred_cache: host, aliases: [host] }]);
  });

  test('handle returns false without writing for paths that are not Entra routes', async () => {
    for (const p of ['/v1.0/admin/exchange/tracing/messageTraces', '/ecp/reportingwebservice/reporting.svc/MessageTrace', `/${TID}/oauth2/v2.0/other`]) {
      const r = await fetch(h.base + p);
      assert.equal(r.status, 404, p);
      assert.equal(await r.text(), 'not entra');
    }
    const wrongMethod = await fetch(`${h.base}/${TID}/oauth2/v2.0/token`);
    assert.equal(wrongMethod.status, 405);
  });

  test('stats count token requests per tenant and grant, failures included', async () => {
    h.sim.resetStats();
    await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    await h.post(`/${TID}/oauth2/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, resource: EXO });
    await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: 'bad', scope: `${GRAPH}/.default` });
    await h.post(`/${TID}/oauth2/v2.0/token`, { grant_type: 'refresh_token', client_id: APP, client_secret: SECRET, refresh_token: 'unknown' });
    await h.post('/contoso.onmicrosoft.com/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    await h.post(`/${OTHER_TID}/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: `${GRAPH}/.default` });
    const s = h.sim.stats();
    assert.equal(s.tokenRequests, 6);
    assert.equal(s.failedTokenRequests, 3);
    assert.deepEqual(s.byTenant[TID], { requests: 5, failed: 2, issued: 3, byGrant: { client_credentials: 4, refresh_token: 1 } });
    assert.deepEqual(s.byTenant[OTHER_TID], { requests: 1, failed: 1, issued: 0, byGrant: { client_credentials: 1 } });
  });
});

describe('configuration validation', () => {
  test('the constructor and setBaseUrl reject bad input with the option named', () => {
    const clock = new ManualClock(T0);
    assert.throws(() => new EntraSimulator({ clock, tenants: [{ tenantId: 'contoso', apps: [] }] }), /tenantId must be a GUID/);
    assert.throws(() => new EntraSimulator({ clock, tenants: [{ tenantId: TID, apps: [{ clientId: APP, certificatePem: 'nope', appRoles: {} }] }] }), /certificatePem must contain at least one PEM CERTIFICATE block/);
    assert.throws(() => new EntraSimulator({ clock, tenants: [{ tenantId: TID, apps: [{ clientId: APP, appRoles: { [GRAPH]: 'x' as unknown as string[] } }] }] }), /appRoles\['https:\/\/graph.microsoft.com'\] must be an array/);
    assert.throws(() => new EntraSimulator({ clock, tenants: [], tokenLifetimeSec: 0 }), /tokenLifetimeSec must be a positive number/);
    assert.throws(() => new EntraSimulator({ clock, tenants: [], refreshTokenReuse: 'sometimes' as 'allow' }), /refreshTokenReuse must be 'reject' or 'allow'/);
    const sim = new EntraSimulator({ clock, tenants: [] });
    assert.throws(() => sim.setBaseUrl('https://127.0.0.1:1234/path'), /must be an origin without a path/);
    assert.throws(() => sim.setBaseUrl('not a url'), /absolute http\(s\) URL/);
  });

  test('getApp returns the registration without the secret', () => {
    const sim = new EntraSimulator({ clock: new ManualClock(T0), tenants: [{ tenantId: TID, apps: [{ clientId: APP, clientSecret: SECRET, appRoles: { [GRAPH]: ['A'] } }] }] });
    const app = sim.getApp(TID, APP);
    assert.equal(app?.clientId, APP);
    assert.equal(JSON.stringify(app).includes(SECRET), false);
    assert.equal(sim.getApp(TID, 'nope'), undefined);
  });
});
