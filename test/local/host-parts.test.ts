import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoute } from '../../local/http-routes';
import { applyHostJsonOverrides, hostConfigFromJson, parseTimeSpan } from '../../local/host-config';
import { parseTimerSchedule } from '../../local/timer-listener';
import { decodeBase64Message, MessageBindingError } from '../../local/queue-listener';
import { normaliseQueueName, queueServiceFor, resolveAppSettingTokens } from '../../local/bindings';

test('a route template with an optional parameter matches with and without it and decodes values', () => {
  const r = compileRoute('sources/{source}/backfill/{runId?}', 'Function "backfill"');
  assert.deepEqual(r.match('sources/a%20b/backfill/r1'), { source: 'a b', runId: 'r1' });
  assert.deepEqual(r.match('Sources/x/BACKFILL'), { source: 'x' });
  assert.deepEqual(r.match('sources/x/backfill/'), { source: 'x' });
  assert.equal(r.match('sources/x'), undefined);
  assert.equal(r.match('sources/x/backfill/r1/extra'), undefined);
});

test('route constraints, defaults and catch-all parameters behave as in ASP.NET routing', () => {
  const r = compileRoute('items/{id:int}/{page=1}', 'f');
  assert.deepEqual(r.match('items/42'), { id: '42', page: '1' });
  assert.equal(r.match('items/abc'), undefined);
  const all = compileRoute('files/{*path}', 'f');
  assert.deepEqual(all.match('files/a/b/c.txt'), { path: 'a/b/c.txt' });
  assert.ok(compileRoute('status', 'f').precedence > compileRoute('{name}', 'f').precedence, 'literal routes win over parameters');
  assert.throws(() => compileRoute('x/{id:unknowntype}', 'Function "x"'), /Function "x".*not supported/);
});

test('TimeSpan strings parse like .NET and bad ones name the field', () => {
  assert.equal(parseTimeSpan('00:00:30', 'f'), 30_000);
  assert.equal(parseTimeSpan('1.02:00:00', 'f'), 26 * 3_600_000);
  assert.equal(parseTimeSpan('00:00:00.25', 'f'), 250);
  assert.throws(() => parseTimeSpan('30s', 'host.json extensions.queues.visibilityTimeout'), /host\.json extensions\.queues\.visibilityTimeout must be a TimeSpan/);
});

test('host.json queue settings get the documented defaults, and app settings override host.json', () => {
  const d = hostConfigFromJson({ version: '2.0' });
  assert.deepEqual(d.queues, { messageEncoding: 'base64', batchSize: 16, newBatchThreshold: 8, maxDequeueCount: 5, visibilityTimeoutMs: 0, maxPollingIntervalMs: 2000 });
  assert.equal(d.routePrefix, 'api');
  const json = applyHostJsonOverrides(
    { version: '2.0', extensions: { queues: { batchSize: 4 }, http: { routePrefix: '' } } },
    { AzureFunctionsJobHost__extensions__queues__batchSize: '8', AzureFunctionsJobHost__extensions__queues__maxDequeueCount: '2' },
  );
  const c = hostConfigFromJson(json);
  assert.equal(c.queues.batchSize, 8);
  assert.equal(c.queues.maxDequeueCount, 2);
  assert.equal(c.routePrefix, '');
  assert.throws(() => hostConfigFromJson({ extensions: { queues: { batchSize: 64 } } }), /extensions\.queues\.batchSize must be an integer from 1 to 32/);
  assert.throws(() => hostConfigFromJson({ extensions: { queues: { messageEncoding: 'utf8' } } }), /messageEncoding must be "base64" or "none"/);
});

test('NCRONTAB schedules with 6 fields (seconds first) and 5 fields compute the next occurrence in UTC', () => {
  const six = parseTimerSchedule('0 */5 * * * *', 'f');
  assert.equal(new Date(six.nextAfter(Date.parse('2026-01-01T00:03:00Z'))).toISOString(), '2026-01-01T00:05:00.000Z');
  assert.equal(new Date(six.nextAfter(Date.parse('2026-01-01T00:05:00Z'))).toISOString(), '2026-01-01T00:10:00.000Z');
  const five = parseTimerSchedule('30 2 * * *', 'f');
  assert.equal(new Date(five.nextAfter(Date.parse('2026-01-01T03:00:00Z'))).toISOString(), '2026-01-02T02:30:00.000Z');
  const span = parseTimerSchedule('00:10:00', 'f');
  assert.equal(span.nextAfter(0), 600_000);
  assert.throws(() => parseTimerSchedule('every five minutes', 'Function "tick"'), /Function "tick".*6 fields/);
});

test('base64 decoding is strict like the host: bad characters or length fail binding', () => {
  assert.equal(decodeBase64Message(Buffer.from('{"a":1}').toString('base64')), '{"a":1}');
  assert.throws(() => decodeBase64Message('{"a":1}'), MessageBindingError);
  assert.throws(() => decodeBase64Message('abc'), /not valid base64/);
});

test('binding settings: %NAME% tokens, queue names and connections fail with the setting and the fix named', () => {
  assert.equal(resolveAppSettingTokens('%A%-%B%', { A: 'x', B: 'y' }, 'w'), 'x-y');
  assert.throws(() => resolveAppSettingTokens('%MISSING%', {}, 'Function "f" trigger'), /%MISSING%.*set MISSING in the app settings/);
  assert.equal(normaliseQueueName('Page-Jobs', 'f'), 'page-jobs');
  assert.throws(() => normaliseQueueName('a_b', 'Function "f"'), /queue name "a_b" is invalid/);
  assert.throws(() => queueServiceFor('JobsStorage', {}, 'Function "f"'), /connection "JobsStorage" is not configured; set app setting JobsStorage/);
  const identity = queueServiceFor('JobsStorage', { JobsStorage__queueServiceUri: 'https://acct.queue.core.windows.net' }, 'f');
  assert.match(identity.description, /DefaultAzureCredential/);
  assert.throws(
    () => queueServiceFor('JobsStorage', { JobsStorage: '@Microsoft.KeyVault(VaultName=v;SecretName=s)' }, 'f'),
    /unresolved Key Vault reference/,
  );
});
