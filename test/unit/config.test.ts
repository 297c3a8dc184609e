import { DEFAULT_RETRY_POLICY } from '../../shared/config-common/retry';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../shared/components';
import { CLOUDS } from '../../shared/config/clouds';
import type { ConfigIssue } from '../../shared/config-common/types';
import type { HttpDestinationConfig } from '../../shared/destinations/http/config';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../../shared/time/expressions';

/** A destination's backlog limits when it sets none (docs/destinations.md). */
const DEFAULT_BACKLOG = { maxPages: 50_000, maxBytes: 10 * 1024 ** 3, maxAgeMs: 7 * DAY_MS };

const TENANT = '8f2c1a9e-3b4d-4c6e-9f01-23456789abcd';
const CLIENT = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const ENV = { CONTOSO_SECRET: 'set', KEY_VAULT_URI: 'https://mtc-vault.vault.azure.net/' };

type Doc = { sources: Record<string, unknown>[]; destinations: Record<string, unknown>[] } & Record<string, unknown>;

function source(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'contoso',
    tenantId: TENANT,
    auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef: 'env:CONTOSO_SECRET' },
    destinations: ['siem'],
    ...extra,
  };
}

function http(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'siem', type: 'http', url: 'https://siem.example.com/ingest', ...extra };
}

function doc(src: Record<string, unknown>[] = [source()], dst: Record<string, unknown>[] = [http()]): Doc {
  return { sources: src, destinations: dst };
}

function issuesOf(d: unknown, env: NodeJS.ProcessEnv = ENV): ConfigIssue[] {
  try {
    parseConfig(d, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected the configuration to be rejected');
}

/** Asserts there is an issue at exactly `path` whose message contains every phrase. */
function expectIssue(issues: ConfigIssue[], path: string, ...phrases: string[]): ConfigIssue {
  const at = issues.filter((i) => i.path === path);
  assert.ok(at.length > 0, `no issue at ${path}; issues: ${JSON.stringify(issues, null, 1)}`);
  const hit = at.find((i) => phrases.every((p) => i.message.includes(p)));
  assert.ok(hit, `no issue at ${path} containing ${JSON.stringify(phrases)}; got ${JSON.stringify(at.map((i) => i.message), null, 1)}`);
  return hit;
}

describe('parseConfig: a valid document', () => {
  it('fills every default for a minimal source and http destination', () => {
    const { config, warnings } = parseConfig(doc(), { env: ENV });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.sources[0], {
      id: 'contoso',
      enabled: true,
      tenantId: TENANT,
      cloud: 'global',
      endpoints: CLOUDS.global.endpoints,
      api: 'graph',
      graphApiVersion: 'v1.0',
      auth: { method: 'clientSecret', clientId: CLIENT, clientSecret: { kind: 'env', name: 'CONTOSO_SECRET' } },
      start: { kind: 'relative', text: '-1d' },
      collectionDelayMs: 10 * MINUTE_MS,
      sliceMs: 10 * DAY_MS,
      pageSize: 5000,
      pollIntervalMs: MINUTE_MS,
      fields: {},
      retry: DEFAULT_RETRY_POLICY,
      requestTimeoutMs: 300 * SECOND_MS,
      logLevel: 'info',
      nextLinkFailureLimit: 3,
      settleRereadsMs: [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS],
      settleBucketMs: HOUR_MS,
      destinations: ['siem'],
    });
    assert.deepEqual(config.destinations[0], {
      id: 'siem',
      type: 'http',
      url: 'https://siem.example.com/ingest',
      headers: {},
      gzip: false,
      maxBatchBytes: 1_000_000,
      maxBatchRecords: 5000,
      timeoutMs: 30 * SECOND_MS,
      allowInsecureLoopback: false,
      retry: DEFAULT_RETRY_POLICY,
      format: 'raw',
      acceptedDomains: [],
      privacy: { drop: [], hash: [] },
      backlog: DEFAULT_BACKLOG,
    });
  });

  it('reads the documented example with every field set', () => {
    const d = doc(
      [
        source({
          enabled: true,
          tenantId: 'Contoso.onmicrosoft.com',
          cloud: 'gcc',
          endpoints: { graphBaseUrl: 'https://graph.example.com/' },
          api: 'graph',
          graphApiVersion: 'beta',
          start: '-2d',
          collectionDelay: '15m',
          sliceLength: '30m',
          pageSize: 1000,
          pollInterval: '5m',
          fields: { _sourceCategory: 'o365/messagetrace', priority: 3, prod: true },
          destinations: ['siem', 'local'],
        }),
      ],
      [
        http({
          headers: { Authorization: { secretRef: 'kv:siem-token' }, 'X-Source': 'mtc' },
          gzip: true,
          maxBatchBytes: 2_000_000,
          maxBatchRecords: 1000,
          timeout: '45s',
          allowInsecureLoopback: false,
        }),
        { id: 'local', type: 'file', directory: './out', maxBatchRecords: 200 },
      ],
    );
    const { config } = parseConfig(d, { env: ENV });
    const s = config.sources[0];
    assert.equal(s.tenantId, 'contoso.onmicrosoft.com');
    assert.equal(s.cloud, 'gcc');
    assert.deepEqual(s.endpoints, {
      authorityHost: 'https://login.microsoftonline.com',
      graphBaseUrl: 'https://graph.example.com',
      graphScope: 'https://graph.microsoft.com/.default',
    });
    assert.equal(s.graphApiVersion, 'beta');
    assert.deepEqual(s.start, { kind: 'relative', text: '-2d' });
    assert.equal(s.collectionDelayMs, 15 * MINUTE_MS);
    assert.equal(s.sliceMs, 30 * MINUTE_MS);
    assert.equal(s.pageSize, 1000);
    assert.equal(s.pollIntervalMs, 5 * MINUTE_MS);
    assert.deepEqual(s.fields, { _sourceCategory: 'o365/messagetrace', priority: 3, prod: true });
    assert.deepEqual(s.destinations, ['siem', 'local']);
    const h = config.destinations[0] as HttpDestinationConfig;
    assert.deepEqual(h.headers, {
      Authorization: { secret: { kind: 'keyVault', vaultUrl: 'https://mtc-vault.vault.azure.net', name: 'siem-token' } },
      'X-Source': 'mtc',
    });
    assert.equal(h.gzip, true);
    assert.equal(h.maxBatchBytes, 2_000_000);
    assert.equal(h.timeoutMs, 45 * SECOND_MS);
    assert.deepEqual(config.destinations[1], { id: 'local', type: 'file', directory: './out', maxBatchRecords: 200, retry: DEFAULT_RETRY_POLICY, format: 'raw', acceptedDomains: [], privacy: { drop: [], hash: [] }, backlog: DEFAULT_BACKLOG });
  });

  it('accepts a $schema field at the top level', () => {
    assert.doesNotThrow(() => parseConfig({ $schema: './config.schema.json', ...doc() }, { env: ENV }));
  });
});

describe('parseConfig: collecting problems', () => {
  it('reports every problem at once, one "<path>: <message>" line each', () => {
    let err: unknown;
    try {
      parseConfig(doc([source({ pageSize: 0, sliceLength: 'x' }), source({ id: 'b', tenantId: 'nope' })], [http({ gzip: 'yes' })]), { env: ENV });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    const paths = err.issues.map((i) => i.path);
    for (const p of ['sources[0].pageSize', 'sources[0].sliceLength', 'sources[1].tenantId', 'destinations[0].gzip']) assert.ok(paths.includes(p), p);
    assert.equal(err.message, err.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  });

  it('rejects a document that is not an object', () => {
    expectIssue(issuesOf([]), '(root)', 'must be a JSON object');
    expectIssue(issuesOf('x'), '(root)', 'must be a JSON object');
  });

  it('requires sources and destinations, each with at least one entry', () => {
    const missing = issuesOf({});
    expectIssue(missing, 'sources', 'is required');
    expectIssue(missing, 'destinations', 'is required');
    expectIssue(issuesOf({ sources: [], destinations: [http()] }), 'sources', 'at least one');
    expectIssue(issuesOf({ sources: {}, destinations: [http()] }), 'sources', 'must be a list of sources', 'got an object');
  });
});

describe('parseConfig: types and ranges', () => {
  it('names a wrong type and what to write instead', () => {
    const issues = issuesOf(doc([source({ pageSize: '5000', enabled: 'yes' })]));
    expectIssue(issues, 'sources[0].pageSize', 'must be a whole number from 1 to 5000', 'got a string');
    expectIssue(issues, 'sources[0].enabled', 'must be true or false', 'got a string');
  });

  it('rejects out-of-range numbers with the allowed range', () => {
    expectIssue(issuesOf(doc([source({ pageSize: 6000 })])), 'sources[0].pageSize', 'is 6000', 'from 1 to 5000');
    expectIssue(issuesOf(doc([source({ pageSize: 2.5 })])), 'sources[0].pageSize', 'whole number');
    expectIssue(issuesOf(doc(undefined, [http({ maxBatchBytes: 20_000_000 })])), 'destinations[0].maxBatchBytes', 'from 1024 to 10000000');
    expectIssue(issuesOf(doc(undefined, [http({ maxBatchRecords: 0 })])), 'destinations[0].maxBatchRecords', 'is 0');
  });

  it('requires the source fields that have no default', () => {
    const issues = issuesOf(doc([{ destinations: ['siem'] }]));
    expectIssue(issues, 'sources[0].id', 'is required');
    expectIssue(issues, 'sources[0].tenantId', 'is required');
    expectIssue(issues, 'sources[0].auth', 'is required', '"method": "clientSecret"');
  });

  it('checks id syntax', () => {
    expectIssue(issuesOf(doc([source({ id: 'Contoso_1' })])), 'sources[0].id', 'lowercase letters, digits and dashes');
    expectIssue(issuesOf(doc([source({ id: 'a'.repeat(41) })])), 'sources[0].id', '1-40 characters');
  });

  it('accepts a tenant GUID or verified domain and rejects common/organizations', () => {
    expectIssue(issuesOf(doc([source({ tenantId: 'common' })])), 'sources[0].tenantId', 'must name one tenant');
    expectIssue(issuesOf(doc([source({ tenantId: 'not a tenant' })])), 'sources[0].tenantId', 'GUID', 'contoso.onmicrosoft.com');
    expectIssue(issuesOf(doc([source({ auth: { method: 'clientSecret', clientId: 'app', clientSecretRef: 'env:X' } })])), 'sources[0].auth.clientId', 'GUID');
  });

  it('rejects a field the auth method does not use, and an unknown method', () => {
    expectIssue(issuesOf(doc([source({ auth: { method: 'certificate', clientId: CLIENT, clientSecretRef: 'env:X' } })])), 'sources[0].auth.clientSecretRef', 'is not used by the "certificate" method');
    expectIssue(issuesOf(doc([source({ auth: { method: 'password', clientId: CLIENT } })])), 'sources[0].auth.method', '"clientSecret"', '"federated"');
  });

  it('rejects graphApiVersion values other than v1.0 and beta', () => {
    expectIssue(issuesOf(doc([source({ graphApiVersion: 'v2' })])), 'sources[0].graphApiVersion', '"v1.0"', '"beta"');
  });
});

describe('parseConfig: durations and start', () => {
  it('applies the limits of collectionDelay, sliceLength and pollInterval', () => {
    assert.equal(parseConfig(doc([source({ collectionDelay: 0 })]), { env: ENV }).config.sources[0].collectionDelayMs, 0);
    assert.equal(parseConfig(doc([source({ collectionDelay: '24h', sliceLength: '10d', pollInterval: '1d' })]), { env: ENV }).config.sources[0].sliceMs, 10 * DAY_MS);
    expectIssue(issuesOf(doc([source({ collectionDelay: '25h' })])), 'sources[0].collectionDelay', 'is 1 day 1 hour', 'at most 1 day');
    expectIssue(issuesOf(doc([source({ sliceLength: '30s' })])), 'sources[0].sliceLength', 'from 1 minute to 10 days');
    expectIssue(issuesOf(doc([source({ sliceLength: '11d' })])), 'sources[0].sliceLength', 'from 1 minute to 10 days');
    expectIssue(issuesOf(doc([source({ pollInterval: '30s' })])), 'sources[0].pollInterval', 'from 1 minute to 1 day');
    expectIssue(issuesOf(doc(undefined, [http({ timeout: '0s' })])), 'destinations[0].timeout', 'from 1 second to 10 minutes');
  });

  it('reports a bad duration with examples', () => {
    expectIssue(issuesOf(doc([source({ sliceLength: 'an hour' })])), 'sources[0].sliceLength', 'is not a duration', '"1h30m"');
    expectIssue(issuesOf(doc([source({ sliceLength: true })])), 'sources[0].sliceLength', 'must be a duration');
    expectIssue(issuesOf(doc([source({ pollInterval: 'P1M' })])), 'sources[0].pollInterval', 'years and months');
  });

  it('reads each start syntax', () => {
    const start = (v: unknown) => parseConfig(doc([source({ start: v })]), { env: ENV }).config.sources[0].start;
    assert.deepEqual(start('-3h@h'), { kind: 'relative', text: '-3h@h' });
    assert.deepEqual(start('now'), { kind: 'relative', text: 'now' });
    assert.deepEqual(start('@d'), { kind: 'relative', text: '@d' });
    assert.deepEqual(start('2026-11-01T00:00:00Z'), { kind: 'absolute', ms: Date.parse('2026-11-01T00:00:00Z'), text: '2026-11-01T00:00:00Z' });
    assert.deepEqual(start(1793491200), { kind: 'absolute', ms: 1793491200000, text: '1793491200' });
  });

  it('rejects a start without a zone, in milliseconds, or malformed', () => {
    expectIssue(issuesOf(doc([source({ start: '2026-11-01T00:00:00' })])), 'sources[0].start', 'has no time zone', '"2026-11-01T00:00:00Z"');
    expectIssue(issuesOf(doc([source({ start: 1793491200000 })])), 'sources[0].start', 'looks like epoch milliseconds', 'divide by 1000');
    expectIssue(issuesOf(doc([source({ start: '-2q' })])), 'sources[0].start', 'not a valid relative time');
    expectIssue(issuesOf(doc([source({ start: null })])), 'sources[0].start', 'must be a time');
  });
});

describe('parseConfig: clouds and endpoints', () => {
  it('uses the cloud table for each cloud that serves Graph message trace', () => {
    const endpoints = (cloud: string) => parseConfig(doc([source({ cloud })]), { env: ENV }).config.sources[0].endpoints;
    assert.deepEqual(endpoints('global'), { authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com', graphScope: 'https://graph.microsoft.com/.default' });
    assert.deepEqual(endpoints('gcc'), endpoints('global'));
  });

  it('rejects api graph in GCC High, DoD and 21Vianet and points to RWS', () => {
    for (const cloud of ['gcchigh', 'dod', 'china']) {
      expectIssue(issuesOf(doc([source({ cloud })])), 'sources[0].cloud', 'only in the global service', 'api: "rws"', 'GCC High, DoD and 21Vianet');
    }
  });

  it('asks for an explicit opt-in to the retiring RWS API in the global service', () => {
    expectIssue(issuesOf(doc([source({ api: 'rws' })])), 'sources[0].api', 'being retired', '"allowInGlobalCloud": true');
    expectIssue(issuesOf(doc([source({ api: 'soap' })])), 'sources[0].api', 'must be "graph"');
  });

  it('rejects an unknown cloud with the list of clouds', () => {
    expectIssue(issuesOf(doc([source({ cloud: 'usgov' })])), 'sources[0].cloud', '"global"', '"gcchigh"', '"china"');
  });

  it('normalises endpoint overrides and allows plain http only on loopback, for the API', () => {
    const s = parseConfig(
      doc([source({ endpoints: { authorityHost: 'https://127.0.0.1:7443/', graphBaseUrl: 'http://LOCALHOST:7444//', graphScope: 'https://graph.microsoft.com/.default' } })]),
      { env: ENV },
    ).config.sources[0];
    assert.deepEqual(s.endpoints, { authorityHost: 'https://127.0.0.1:7443', graphBaseUrl: 'http://localhost:7444', graphScope: 'https://graph.microsoft.com/.default' });
  });

  it('rejects a plain-http authorityHost even on loopback, saying the identity library needs https', () => {
    const issues = issuesOf(doc([source({ endpoints: { authorityHost: 'http://127.0.0.1:7443', graphBaseUrl: 'http://127.0.0.1:7444', graphScope: 'https://graph.microsoft.com/.default' } })]));
    expectIssue(issues, 'sources[0].endpoints.authorityHost', 'must use https, even on loopback', 'identity library', '--https');
  });

  it('rejects endpoint overrides that are not https, not URLs, or a scope without /.default', () => {
    const issues = issuesOf(doc([source({ endpoints: { authorityHost: 'http://login.example.com', graphBaseUrl: 'graph', graphScope: 'https://graph.microsoft.com' } })]));
    expectIssue(issues, 'sources[0].endpoints.authorityHost', 'must use https', 'loopback');
    expectIssue(issues, 'sources[0].endpoints.graphBaseUrl', 'not an absolute URL');
    expectIssue(issues, 'sources[0].endpoints.graphScope', '"/.default"');
  });

  it('accepts cloud custom only with all three endpoints', () => {
    expectIssue(issuesOf(doc([source({ cloud: 'custom', endpoints: { graphBaseUrl: 'https://graph.example.com' } })])), 'sources[0].endpoints', '"authorityHost"', '"graphScope"');
    const endpoints = { authorityHost: 'https://login.example.com', graphBaseUrl: 'https://graph.example.com', graphScope: 'https://graph.example.com/.default' };
    assert.deepEqual(parseConfig(doc([source({ cloud: 'custom', endpoints })]), { env: ENV }).config.sources[0].endpoints, endpoints);
  });
});

describe('parseConfig: secret references', () => {
  const ref = (clientSecretRef: unknown, env: NodeJS.ProcessEnv = ENV) =>
    (parseConfig(doc([source({ auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef } })]), { env }).config.sources[0].auth as { clientSecret?: unknown }).clientSecret;
  const refIssues = (clientSecretRef: unknown, env: NodeJS.ProcessEnv = ENV) =>
    issuesOf(doc([source({ auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef } })]), env);

  it('reads env:, kv:<name> and full Key Vault secret URLs', () => {
    assert.deepEqual(ref('env:CONTOSO_SECRET'), { kind: 'env', name: 'CONTOSO_SECRET' });
    assert.deepEqual(ref('kv:contoso-secret'), { kind: 'keyVault', vaultUrl: 'https://mtc-vault.vault.azure.net', name: 'contoso-secret' });
    assert.deepEqual(ref('kv:https://other.vault.azure.net/secrets/contoso-secret'), { kind: 'keyVault', vaultUrl: 'https://other.vault.azure.net', name: 'contoso-secret' });
    assert.deepEqual(ref('kv:https://other.vault.azure.net/secrets/contoso-secret/0123456789abcdef0123456789ABCDEF'), {
      kind: 'keyVault',
      vaultUrl: 'https://other.vault.azure.net',
      name: 'contoso-secret',
      version: '0123456789abcdef0123456789abcdef',
    });
  });

  it('accepts the sovereign Key Vault suffixes', () => {
    for (const host of ['govvault.vault.usgovcloudapi.net', 'cnvault.vault.azure.cn', 'devault.vault.microsoftazure.de']) {
      assert.equal((ref(`kv:https://${host}/secrets/s1`) as { vaultUrl: string }).vaultUrl, `https://${host}`);
    }
  });

  it('reports a missing secret reference', () => {
    expectIssue(issuesOf(doc([source({ auth: { method: 'clientSecret', clientId: CLIENT } })])), 'sources[0].auth.clientSecretRef', 'is required', 'env:CONTOSO_SECRET');
  });

  it('names KEY_VAULT_URI when kv:<name> is used without it', () => {
    expectIssue(refIssues('kv:contoso-secret', { CONTOSO_SECRET: 'x' }), 'sources[0].auth.clientSecretRef', 'kv:<name>', 'KEY_VAULT_URI is not set');
    expectIssue(refIssues('kv:contoso-secret', { KEY_VAULT_URI: 'https://example.com' }), 'sources[0].auth.clientSecretRef', 'KEY_VAULT_URI must be a Key Vault address');
  });

  it('rejects malformed references', () => {
    expectIssue(refIssues('env:1BAD'), 'sources[0].auth.clientSecretRef', 'invalid variable name');
    expectIssue(refIssues('kv:bad_name'), 'sources[0].auth.clientSecretRef', 'invalid secret name');
    expectIssue(refIssues('kv:https://evil.example.com/secrets/x'), 'sources[0].auth.clientSecretRef', 'Key Vault address');
    expectIssue(refIssues('kv:https://vault1.vault.azure.net/keys/x'), 'sources[0].auth.clientSecretRef', 'not a secret URL');
    expectIssue(refIssues('kv:https://vault1.vault.azure.net/secrets/x/notaversion'), 'sources[0].auth.clientSecretRef', 'invalid secret version');
    expectIssue(refIssues(42), 'sources[0].auth.clientSecretRef', 'must be a secret reference', 'got a number');
  });

  it('treats a secret pasted into clientSecretRef as an inline secret', () => {
    expectIssue(refIssues('Zx8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789'), 'sources[0].auth.clientSecretRef', 'is not a secret reference', 'never written inline');
  });

  it('rejects an inline clientSecret and shows the reference syntax', () => {
    const issues = issuesOf(doc([source({ auth: { method: 'clientSecret', clientId: CLIENT, clientSecret: 'abc', clientSecretRef: 'env:X' } })]));
    expectIssue(issues, 'sources[0].auth.clientSecret', 'secrets are never inline', '"clientSecretRef"', 'env:NAME', 'kv:<secret-name>');
    expectIssue(issuesOf(doc([source({ clientSecret: 'abc' })])), 'sources[0].clientSecret', 'secrets are never inline', 'auth.clientSecretRef');
  });

  it('warns when the environment variable of an env: reference is not set', () => {
    const { warnings } = parseConfig(doc(), { env: {} });
    assert.ok(warnings.some((w) => w.startsWith('sources[0].auth.clientSecretRef: ') && w.includes('CONTOSO_SECRET is not set')), warnings.join('\n'));
  });
});

describe('parseConfig: HTTP destinations', () => {
  it('requires https, and says plain http needs a loopback host and allowInsecureLoopback', () => {
    expectIssue(issuesOf(doc(undefined, [http({ url: 'http://siem.example.com/ingest' })])), 'destinations[0].url', 'must use https', 'loopback host', '"allowInsecureLoopback": true');
    expectIssue(issuesOf(doc(undefined, [http({ url: 'http://127.0.0.1:9000/ingest' })])), 'destinations[0].url', 'needs "allowInsecureLoopback": true');
    expectIssue(issuesOf(doc(undefined, [http({ url: 'http://siem.example.com/', allowInsecureLoopback: true })])), 'destinations[0].url', 'must use https');
    expectIssue(issuesOf(doc(undefined, [http({ url: 'ftp://siem.example.com/' })])), 'destinations[0].url', 'must be an https URL');
    expectIssue(issuesOf(doc(undefined, [http({ url: 'siem.example.com' })])), 'destinations[0].url', 'not an absolute URL');
  });

  it('allows plain http to loopback with the opt-in', () => {
    for (const url of ['http://127.0.0.1:9000/ingest', 'http://localhost:9000/ingest', 'http://[::1]:9000/ingest']) {
      const d = parseConfig(doc(undefined, [http({ url, allowInsecureLoopback: true })]), { env: ENV }).config.destinations[0] as HttpDestinationConfig;
      assert.equal(d.allowInsecureLoopback, true);
      assert.equal(d.url, url);
    }
  });

  it('rejects credentials in the URL', () => {
    expectIssue(issuesOf(doc(undefined, [http({ url: 'https://user:pw@siem.example.com/' })])), 'destinations[0].url', 'must not contain a user name or password');
  });

  it('rejects credential headers given as plain strings', () => {
    const issues = issuesOf(
      doc(undefined, [http({ headers: { Authorization: 'abc', 'X-API-Key': 'abc', 'X-Auth-Token': 'abc', 'X-Custom': 'Bearer abc', 'X-Other': 'Splunk abc', 'X-Basic': 'Basic abc' } })]),
    );
    for (const h of ['Authorization', 'X-API-Key', 'X-Auth-Token', 'X-Custom', 'X-Other', 'X-Basic']) {
      expectIssue(issues, `destinations[0].headers.${h}`, 'secrets are never inline', '{"secretRef": "kv:siem-token"}');
    }
  });

  it('accepts plain headers and secret headers', () => {
    const d = parseConfig(doc(undefined, [http({ headers: { 'X-Source': 'mtc', Authorization: { secretRef: 'env:SIEM_TOKEN' } } })]), { env: { ...ENV, SIEM_TOKEN: 'x' } })
      .config.destinations[0] as HttpDestinationConfig;
    assert.deepEqual(d.headers, { 'X-Source': 'mtc', Authorization: { secret: { kind: 'env', name: 'SIEM_TOKEN' } } });
  });

  it('rejects reserved, repeated, malformed and wrongly typed headers', () => {
    const issues = issuesOf(doc(undefined, [http({ headers: { 'Content-Encoding': 'gzip', 'x-a': '1', 'X-A': '2', 'Bad Name': 'x', 'X-N': 5, 'X-R': { secretRef: 'nope' } } })]));
    expectIssue(issues, 'destinations[0].headers.Content-Encoding', 'set by the collector', '"gzip": true');
    expectIssue(issues, 'destinations[0].headers.X-A', 'repeats the header');
    expectIssue(issues, 'destinations[0].headers["Bad Name"]', 'not a valid header name');
    expectIssue(issues, 'destinations[0].headers.X-N', 'must be a string', 'got a number');
    expectIssue(issues, 'destinations[0].headers.X-R.secretRef', 'is not a secret reference');
  });

  it('rejects an unknown destination type', () => {
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'kafka' }])), 'destinations[0].type', '"http"', '"file"');
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem' }])), 'destinations[0].type', 'is required');
  });

  it('suggests the destination type a user probably meant', () => {
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'splunk' }])), 'destinations[0].type', 'did you mean "splunk-hec"?', '"sumo-logic"');
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'sentinel' }])), 'destinations[0].type', 'did you mean "azure-monitor"?');
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'datadg' }])), 'destinations[0].type', 'did you mean "datadog"?');
  });

  it('requires a directory for a file destination', () => {
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'file' }])), 'destinations[0].directory', 'is required', './out');
    expectIssue(issuesOf(doc(undefined, [{ id: 'siem', type: 'file', directory: ' ' }])), 'destinations[0].directory', 'folder');
  });
});

describe('parseConfig: accepted domains per source', () => {
  it('hands every destination the domains of each source that sets its own', () => {
    const { config } = parseConfig(doc(
      [
        source({ acceptedDomains: ['Contoso.com', 'contoso.onmicrosoft.com.', 'contoso.com'] }),
        source({ id: 'fabrikam', acceptedDomains: ['fabrikam.com'], destinations: ['siem', 'local'] }),
        source({ id: 'litware', destinations: ['local'] }),
      ],
      [http({ acceptedDomains: ['default.example'] }), { id: 'local', type: 'file', directory: './out' }],
    ), { env: ENV });
    assert.deepEqual(config.sources.map((s) => s.acceptedDomains), [['contoso.com', 'contoso.onmicrosoft.com'], ['fabrikam.com'], undefined]);
    assert.deepEqual(config.destinations[0]!.acceptedDomainsBySource, { contoso: ['contoso.com', 'contoso.onmicrosoft.com'], fabrikam: ['fabrikam.com'] });
    assert.deepEqual(config.destinations[0]!.acceptedDomains, ['default.example'], 'the destination keeps its own list for sources that set none');
    // Also to a destination contoso does not feed: `npm run replay` may send its archived events there.
    assert.deepEqual(config.destinations[1]!.acceptedDomainsBySource, config.destinations[0]!.acceptedDomainsBySource);
  });

  it('names the source field and the fix for a bad domain, and suggests the field for an alias', () => {
    expectIssue(issuesOf(doc([source({ acceptedDomains: ['contoso.com', '@fabrikam.com'] })])), 'sources[0].acceptedDomains[1]', "must be a list of the tenant's accepted domains", 'without "@"');
    expectIssue(issuesOf(doc([source({ acceptedDomains: 'contoso.com' })])), 'sources[0].acceptedDomains', 'must be a list');
    expectIssue(issuesOf(doc([source({ domains: ['contoso.com'] })])), 'sources[0].domains', 'acceptedDomains');
  });
});

describe('parseConfig: ids and references', () => {
  it('reports an unknown destination id and lists the defined ids', () => {
    const issues = issuesOf(doc([source({ destinations: ['siem', 'elastic'] })], [http(), { id: 'local', type: 'file', directory: './out' }]));
    expectIssue(issues, 'sources[0].destinations[1]', 'unknown destination "elastic"', 'the destinations defined are "siem", "local"');
  });

  it('reports duplicate source and destination ids', () => {
    const issues = issuesOf(doc([source(), source()], [http(), http()]));
    expectIssue(issues, 'sources[1].id', 'duplicate source id "contoso"', 'sources[0]');
    expectIssue(issues, 'destinations[1].id', 'duplicate destination id "siem"', 'destinations[0]');
  });

  it('reports a destination listed twice by one source, and an empty destination list', () => {
    expectIssue(issuesOf(doc([source({ destinations: ['siem', 'siem'] })])), 'sources[0].destinations[1]', 'list each destination once');
    expectIssue(issuesOf(doc([source({ destinations: [] })])), 'sources[0].destinations', 'at least one destination');
  });

  it('warns about a destination no source uses', () => {
    const { warnings } = parseConfig(doc(undefined, [http(), { id: 'local', type: 'file', directory: './out' }]), { env: ENV });
    assert.deepEqual(warnings, ['destinations[1]: no source sends to destination "local"; add it to a source\'s "destinations" or remove it']);
  });

  it('warns when every source is disabled', () => {
    const { warnings } = parseConfig(doc([source({ enabled: false })]), { env: ENV });
    assert.ok(warnings.some((w) => w.startsWith('sources: every source is disabled')), warnings.join('\n'));
  });
});

describe('parseConfig: unknown fields and fields', () => {
  it('rejects unknown fields with a did-you-mean suggestion', () => {
    const issues = issuesOf({ ...doc([source({ sliceLenght: '1h', Tenant: 'x' })], [http({ gzipp: true, endpoint: 'x' })]), destination: [] });
    expectIssue(issues, 'sources[0].sliceLenght', 'unknown field "sliceLenght"', 'did you mean "sliceLength"?');
    expectIssue(issues, 'sources[0].Tenant', 'did you mean "tenantId"?');
    expectIssue(issues, 'destinations[0].gzipp', 'did you mean "gzip"?');
    expectIssue(issues, 'destinations[0].endpoint', 'did you mean "url"?');
    expectIssue(issues, 'destination', 'did you mean "destinations"?');
  });

  it('lists the allowed fields when nothing is close', () => {
    expectIssue(issuesOf(doc([source({ zzzzzzzz: 1 })])), 'sources[0].zzzzzzzz', 'the fields allowed here are', '"sliceLength"');
  });

  it('says where a field written at the wrong level belongs', () => {
    expectIssue(issuesOf(doc([source({ clientId: CLIENT })])), 'sources[0].clientId', 'belongs inside "auth"', 'sources[0].auth.clientId');
  });

  it('rejects fields that collide with the event envelope, and values that are not scalars', () => {
    const issues = issuesOf(doc([source({ fields: { TenantId: 'x', eventId: 'y', nested: { a: 1 }, ok: 'fine' } })]));
    expectIssue(issues, 'sources[0].fields.TenantId', 'key of the event envelope', 'rename');
    expectIssue(issues, 'sources[0].fields.eventId', 'key of the event envelope');
    expectIssue(issues, 'sources[0].fields.nested', 'must be a string, a number or true/false');
  });
});

describe('parseConfig: secrets never appear in messages', () => {
  it('keeps every secret-looking value from the input out of errors and warnings', () => {
    const secrets = [
      'Zx8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789',
      'sk_live_4f9a8b7c6d5e4f3a2b1c',
      'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl',
      'hunter2-password-XYZ',
      'SplunkHECtoken-1234-5678',
      'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'short1',
    ];
    const d = {
      sources: [
        source({ auth: { method: 'clientSecret', clientId: CLIENT, clientSecret: secrets[0], clientSecretRef: secrets[1] } }),
        source({ id: 'b', password: secrets[3], auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef: `kv:${secrets[5]}/x` } }),
        source({ id: 'c', auth: { method: 'clientSecret', clientId: secrets[6], clientSecretRef: `env:${secrets[4]}` } }),
      ],
      destinations: [
        http({
          url: `https://user:${secrets[3]}@siem.example.com/services/collector?token=${secrets[4]}`,
          headers: { Authorization: `Bearer ${secrets[2]}`, 'X-API-Key': secrets[5], 'X-Custom': `Splunk ${secrets[4]}`, 'X-Ref': { secretRef: secrets[1], secret: secrets[0] } },
        }),
        http({ id: 'two', url: `http://siem.example.com/receiver/v1/http/${secrets[5]}`, apiKey: secrets[2], token: secrets[6] }),
        { id: 'three', type: 'file', directory: './out', password: secrets[3] },
      ],
    };
    let err: unknown;
    try {
      parseConfig(d, { env: { [secrets[4]]: 'x' } });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.ok(err.issues.length >= 10, err.message);
    for (const s of secrets) {
      assert.ok(!err.message.includes(s), `error text contains ${s}:\n${err.message}`);
      for (const i of err.issues) assert.ok(!i.path.includes(s) && !i.message.includes(s));
    }

    const { warnings } = parseConfig(doc([source({ auth: { method: 'clientSecret', clientId: CLIENT, clientSecretRef: 'env:CONTOSO_SECRET' } })]), {
      env: { CONTOSO_SECRET: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/' + secrets[0] + ')' },
    });
    assert.ok(warnings.some((w) => w.includes('unresolved Key Vault reference')));
    for (const s of secrets) for (const w of warnings) assert.ok(!w.includes(s), w);
  });
});
