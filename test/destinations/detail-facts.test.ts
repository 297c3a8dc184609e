/**
 * The facts of a getDetailsByRecipient event (shared/formats/detail.ts): what the formats read from
 * the event name, the description and the XML `data` blob, and that malformed or huge blobs never
 * throw, never take more than linear time, and never cost the event or its raw `data`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFormatter, FORMAT_NAMES } from '../../shared/formats';
import { controlVerdict, customDataEntries, decodeXmlText, DETAIL_LIMITS, detailFacts, detailKind, mepElements, smtpStatusOf } from '../../shared/formats/detail';
import type { MessageTraceDetail } from '../../shared/model/row';
import { ACCEPTED, sampleDetailEvents } from './fixtures';

const d = (event: string, description = '', data = '', action = ''): MessageTraceDetail => ({ dateTime: '2026-11-18T14:41:03Z', event, action, description, data });
const elapsed = (f: () => void): number => { const t = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - t) / 1e6; };

/** Whether a formatted record holds `value` whole, as a string field or inside a JSON string field (OCSF raw_data). */
function holds(record: unknown, value: string): boolean {
  if (typeof record === 'string') {
    if (record === value) return true;
    if (record.startsWith('{') && record.length > value.length) {
      try { return holds(JSON.parse(record), value); } catch { return false; }
    }
    return false;
  }
  if (record && typeof record === 'object') return Object.values(record).some((v) => holds(v, value));
  return false;
}

describe('detail facts', () => {
  it('reads the SMTP status of a Fail from its LED reason, the spam verdict from the data, and the rule from a Transport rule step', () => {
    const facts = sampleDetailEvents().map((e) => detailFacts(e.detail));
    const fail = facts.find((f) => f.enhancedStatus === '5.1.10')!;
    assert.deepEqual({ code: fail.smtpCode, status: fail.enhancedStatus, response: fail.smtpResponse }, { code: '550', status: '5.1.10', response: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup' });
    const remote = facts.find((f) => f.enhancedStatus === '5.1.1')!;
    assert.deepEqual([remote.remoteHost, remote.remoteIp], ['mx.example.org', '203.0.113.5']);
    const phish = facts.find((f) => f.scl === 9)!;
    assert.deepEqual([phish.sfv, phish.spamCategory, phish.spamAction, phish.kind], ['SPM', 'HPHISH', 'SQ', 'spam']);
    const junk = facts.find((f) => f.scl === 6)!;
    assert.deepEqual([junk.spamAction, junk.spamCategory], ['SJ', 'SPM'], 'the spam filter agent\'s CustomData gives CAT');
    const rule = facts.find((f) => f.kind === 'transport-rule')!;
    assert.deepEqual([rule.ruleName, rule.ruleId, rule.ruleAction, rule.ruleMode], ['Quarantine payroll keywords', '9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e', 'Quarantine', 'Enforce']);
    assert.deepEqual(facts.filter((f) => f.kind === 'deliver').map((f) => f.folder), ['Quarantine', 'Junk Email', 'Quarantine']);
  });

  it('reads every form of the reason: bare, LED, a Defer with the last server tried, a Drop of a group, RecipientStatus', () => {
    assert.deepEqual(smtpStatusOf('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'), { smtpCode: '550', enhancedStatus: '5.1.10', smtpResponse: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup' });
    assert.equal(smtpStatusOf('Reason: [{LED=550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup}]').smtpResponse, '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup');
    const defer = smtpStatusOf('The message was deferred. 450 4.4.316 Connection refused [Message=Socket error code 10061] [LastAttemptedServerName=mail.stage.test] [LastAttemptedServerIP=203.0.113.25:25]');
    assert.deepEqual([defer.smtpCode, defer.enhancedStatus, defer.remoteHost, defer.remoteIp], ['450', '4.4.316', 'mail.stage.test', '203.0.113.25']);
    assert.deepEqual(smtpStatusOf('Reason: [{LED=250 2.1.5 RESOLVER.GRP.Expanded; distribution list expanded};{MSG=};{FQDN=};{IP=};{LRT=}]').enhancedStatus, '2.1.5');
    assert.deepEqual(smtpStatusOf('The message was successfully delivered.'), {});
    const viaElement = detailFacts(d('Fail', 'The message could not be delivered.', '<root><MEP Name="RecipientStatus" String="554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException" /></root>'));
    assert.deepEqual([viaElement.smtpCode, viaElement.enhancedStatus], ['554', '5.2.2']);
  });

  it('reads a DLP rule with its policy, ignores the empty policy of a transport rule, and reads SCL from the description', () => {
    const dlp = detailFacts(d('DLP rule', "DLP rule: 'Block credit cards', ID: ('f43f7263-2730-4217-aea6-e7a68a7951ec'), DLP policy: 'Financial data', ID: (0b6c9a2e-1d3f-4e5a-9b7c-8d6e5f4a3b2c).", '', 'BA'));
    assert.deepEqual([dlp.kind, dlp.ruleName, dlp.ruleId, dlp.rulePolicyName, dlp.rulePolicyId, dlp.ruleAction], ['dlp-rule', 'Block credit cards', 'f43f7263-2730-4217-aea6-e7a68a7951ec', 'Financial data', '0b6c9a2e-1d3f-4e5a-9b7c-8d6e5f4a3b2c', 'BA']);
    assert.equal(controlVerdict(dlp), 'blocked');
    const etr = detailFacts(d('Transport rule', "Transport rule: 'Block external contracts', ID: ('9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e'), DLP policy: '', ID: (00000000-0000-0000-0000-000000000000)."));
    assert.equal(etr.rulePolicyName, undefined);
    assert.equal(etr.rulePolicyId, undefined);
    assert.equal(controlVerdict(etr), 'detected', 'a rule without a known action was observed');
    assert.equal(detailFacts(d('Spam', 'Spam confidence level: 8')).scl, 8);
    assert.equal(detailFacts(d('Spam', 'Spam confidence level: 42')).scl, undefined, 'an SCL outside -1..9 is not an SCL');
  });

  it('reads a control\'s verdict from the spam action, the verdict, or the rule\'s action', () => {
    const rule = (action: string) => controlVerdict(detailFacts(d('Transport rule', '', `<root><MEP Name="CustomData" Blob="S:TRA=ETR|ruleId=x|action=${action}|mode=Enforce" /></root>`)));
    assert.deepEqual(['RejectMessage', 'DeleteMessage', 'Quarantine', 'ApplyHtmlDisclaimer', 'SetSCL', 'NotifyUser', 'GenerateIncidentReport'].map(rule), ['blocked', 'deleted', 'quarantined', 'modified', 'modified', 'detected', 'detected']);
    const spam = (di: string, sfv = 'SPM') => controlVerdict(detailFacts(d('Spam', '', `<root><MEP Name="DI" String="${di}" /><MEP Name="SFV" String="${sfv}" /></root>`)));
    assert.deepEqual(['SQ', 'SJ', 'SD', 'SB', 'SN'].map((di) => spam(di)), ['quarantined', 'junk', 'deleted', 'blocked', 'allowed']);
    assert.equal(spam('', 'NSPM'), 'allowed');
    assert.equal(spam('', 'SPM'), 'detected');
    assert.equal(controlVerdict(detailFacts(d('Fail', 'Reason: [{LED=550 5.1.10 x}]'))), undefined, 'a routing step has no verdict');
  });

  it('classifies the event names the API writes, in any case', () => {
    const names: [string, string][] = [['Receive', 'receive'], ['SUBMIT', 'submit'], ['Send external', 'send'], ['Deliver', 'deliver'], ['Fail', 'fail'], ['Defer', 'defer'], ['Drop', 'drop'], ['Expand DL', 'expand'], ['Resolve', 'redirect'], ['Transport rule', 'transport-rule'], ['DLP rule', 'dlp-rule'], ['Spam', 'spam'], ['Malware', 'malware'], ['Quarantine', 'quarantine'], ['Sensitivity label', 'other'], ['', 'other']];
    for (const [name, kind] of names) assert.equal(detailKind(name), kind, name);
    assert.equal(detailKind(undefined), 'other');
  });

  it('decodes XML references and leaves invalid ones as written', () => {
    assert.equal(decodeXmlText('a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#x41;&#66;'), 'a & b <c> "d" \'e\' AB');
    assert.equal(decodeXmlText('&#xD800; &#99999999; &nbsp;'), '&#xD800; &#99999999; &nbsp;');
    const { elements } = mepElements('<root><MEP Name="RecipientStatus" String="550 5.1.1 &lt;bob@example.org&gt;" /><MEP Name=\'Single\' String=\'a>b\'/></root>');
    assert.deepEqual(elements.map((e) => e.value), ['550 5.1.1 <bob@example.org>', 'a>b']);
  });

  it('splits CustomData at semicolons outside quotes and agent fields at bars', () => {
    const entries = customDataEntries("S:SFA=SUM|SFV=SPM|SCL=9;S:TRA=ETR|ruleId=x|action=RejectMessage;'S:note=a;b';S:ProxyHop1=h(10.0.0.1)");
    assert.deepEqual(entries.map((e) => [e.agent, e.type, e.fields.length]), [['SFA', 'SUM', 2], ['TRA', 'ETR', 2], ['NOTE', 'a;b', 0], ['PROXYHOP1', 'h(10.0.0.1)', 0]]);
  });

  it('never throws on malformed data, keeps the facts before the damage, and says the blob is malformed', () => {
    const truncated = detailFacts(d('Spam', '', '<root><MEP Name="SCL" Integer="9" /><MEP Name="SFV" String="SP'));
    assert.equal(truncated.scl, 9);
    assert.equal(truncated.sfv, undefined, 'an unterminated value is not read');
    assert.equal(truncated.dataMalformed, true);
    const odd: unknown[] = ['garbage', '{"json": true}', '<<<>>>', '<MEP Name=', '<MEP Name="x" Integer=9 />', '<root><MEP/><MEP =""/><MEP Name="SCL"', '\u0000\uffff<MEP', 42, null, { a: 1 }, ['x'], undefined];
    for (const data of odd) {
      const facts = detailFacts({ ...d('Fail', 'Reason: [{LED=550'), data } as unknown as MessageTraceDetail);
      assert.equal(facts.kind, 'fail');
    }
    for (const bad of [undefined, null, 'x', 7, {}]) assert.equal(detailFacts(bad as unknown as MessageTraceDetail).kind, 'other');
    assert.equal(detailFacts(d('Spam', '', '<root><MEP Name="SCL" Integer="9" /></root>')).dataMalformed, undefined, 'a well-formed blob is not flagged');
  });

  it(`reads a blob of ten times a realistic worst case whole (${DETAIL_LIMITS.elements} elements, ${DETAIL_LIMITS.scanChars / 1024} KB are the limits)`, () => {
    // Realistic worst case: about 50 elements and 64 KB (a long spam filter CustomData); ten times that, with the facts at the end.
    const filler = Array.from({ length: 498 }, (_, i) => `<MEP Name="Fact${i}" String="${'v'.repeat(1280)}" />`).join('');
    const data = `<root>${filler}<MEP Name="CustomData" Blob="S:SFA=SUM|SFV=SPM|${'SFS=470454002|'.repeat(2000)}CAT=PHSH|DI=SQ" /><MEP Name="SCL" Integer="9" /></root>`;
    assert.ok(data.length > 640 * 1024 && data.length < DETAIL_LIMITS.scanChars, `${data.length} characters`);
    const facts = detailFacts(d('Spam', '', data));
    assert.deepEqual([facts.scl, facts.sfv, facts.spamCategory, facts.spamAction, facts.dataTruncated], [9, 'SPM', 'PHSH', 'SQ', undefined]);
  });

  it('reads a huge or hostile blob in bounded time, flags it truncated, and every format keeps the event and its data whole', () => {
    const huge = `<root>${'<MEP Name="Fact" String="x" />'.repeat(400_000)}</root>`; // 12 MB, 400k elements
    const hostile = [
      huge,
      '<MEP '.repeat(2_000_000), // 10 MB of element starts with no end
      `<root><MEP Name="a" String="${'"'.repeat(1)}${'x'.repeat(10_000_000)}`, // one unterminated 10 MB value
      '@'.repeat(5_000_000) + 'a'.repeat(5_000_000), // the address scanner's worst case
      `${'1.'.repeat(3_000_000)}1`, // the IP scanner's
    ];
    for (const data of hostile) {
      let facts: ReturnType<typeof detailFacts> | undefined;
      const ms = elapsed(() => { facts = detailFacts(d('Spam', '', data)); });
      assert.ok(ms < 2000, `read ${data.length} characters in ${Math.round(ms)} ms`);
      assert.equal(facts!.kind, 'spam');
    }
    assert.equal(detailFacts(d('Spam', '', huge)).dataTruncated, true);
    const event = { ...sampleDetailEvents()[0]!, detail: { ...sampleDetailEvents()[0]!.detail!, data: huge } };
    for (const format of FORMAT_NAMES) {
      for (const privacy of [{ drop: [], hash: [] }, { drop: ['fromIP' as const], hash: ['recipientAddress' as const] }]) {
        let out: unknown;
        const ms = elapsed(() => { out = createFormatter({ format, acceptedDomains: ACCEPTED, privacy }, 'k')(event); });
        assert.ok(ms < 5000, `${format} formatted a 12 MB detail in ${Math.round(ms)} ms`);
        assert.ok(holds(out, huge), `${format} keeps the data whole`);
      }
    }
  });
});
