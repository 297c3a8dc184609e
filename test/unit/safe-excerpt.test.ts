import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { safeExcerpt, textOf } from '../../shared/safe-excerpt';

const JWT = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXBhcnQtaGVyZQ';
const ENTRA_SECRET = 'Xy8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789';

describe('safeExcerpt', () => {
  it('removes control, format and line-separator characters and keeps one line', () => {
    const out = safeExcerpt('a\u0000b\u001b[31mc\r\nd\u202ee\u2028f\u200bg\tend');
    assert.doesNotMatch(out, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    assert.equal(out, 'a b [31mc d e f g end');
  });

  it('caps the excerpt at the given length, marking the cut, whatever the input size', () => {
    const out = safeExcerpt('word '.repeat(100_000), 200);
    assert.equal(out.length, 200);
    assert.ok(out.endsWith('…'));
    assert.equal(safeExcerpt('short', 200), 'short');
  });

  it('never shows a token, a client secret or a key: long token-like runs and secret-named values are replaced', () => {
    for (const secret of [JWT, ENTRA_SECRET, 'dGhpcyBpcyBhIGJhc2U2NCBzZWNyZXQgdmFsdWU=', 'a3f9c2e1b7d64f0e9a8b7c6d5e4f3a2b']) {
      const out = safeExcerpt(`{"payload":"${secret}","v":1}`);
      assert.ok(!out.includes(secret), out);
      assert.ok(!out.includes(secret.slice(0, 16)), out);
      assert.match(out, /\[redacted \d+ chars\]/);
    }
    assert.match(safeExcerpt('Xy8QabcDEFghiJKL/mnopqrstuvwxyz12'), /^\[redacted 33 chars\]$/, 'a slash does not make a token harmless');
    for (const text of ['client_secret=hunter2&x=1', '{"password": "hunter2"}', 'Authorization: Bearer abc.def', 'AccountKey=short1;', 'sig=abc123']) {
      const out = safeExcerpt(text);
      assert.ok(!/hunter2|abc\.def|short1|abc123/.test(out), `${text} → ${out}`);
      assert.match(out, /\[redacted\]/);
    }
  });

  it('is idempotent: an excerpt sanitised again (when status reads it back) is unchanged', () => {
    for (const text of [`client_secret=${ENTRA_SECRET} ${ENTRA_SECRET}`, `{"token": "${JWT}"}`, 'Authorization: Bearer abc.def', 'a\u0000b'.repeat(300)]) {
      const once = safeExcerpt(text);
      assert.equal(safeExcerpt(once), once);
    }
  });

  it('keeps the harmless shapes the collector writes: slice ids, run ids, GUIDs, times, words', () => {
    const text = 'page job for unknown slice contoso/B-20261122101502-a1b2c3-001795316400000-001795320000000 at 2026-11-22T10:15:02.000Z '
      + 'L-001795316400000-001795320000000 R1-001795316400000-001795320000000 message 0f8fad5b-d9cb-469f-a165-70867728950e not-a-valid-page-job';
    assert.equal(safeExcerpt(text, 1000), text);
  });
});

describe('textOf', () => {
  it('turns any payload into text without throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(textOf('x'), 'x');
    assert.equal(textOf(undefined), '(no body)');
    assert.equal(textOf(null), 'null');
    assert.equal(textOf(42), '42');
    assert.equal(textOf({ a: 1 }), '{"a":1}');
    assert.match(textOf(cyclic), /cannot be shown/);
    assert.match(textOf(10n), /cannot be shown/);
    assert.equal(textOf(Buffer.from('hé')), 'hé');
    assert.equal(textOf(new Uint8Array([0x68, 0x69]).buffer), 'hi');
  });
});
