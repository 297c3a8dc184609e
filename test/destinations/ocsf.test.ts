import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createFormatter } from '../../shared/formats';
import { componentTestdata } from '../support/testdata';
import { ACCEPTED, sampleDetailEvents, sampleEvents } from './fixtures';

/** shared/formats/ocsf/testdata/ocsf-1.8.0 in the source tree. */
const schemaFile = (name: string) => JSON.parse(readFileSync(componentTestdata('formats', 'ocsf', 'ocsf-1.8.0', name), 'utf8')) as Def;

interface AttrDef { type?: string; is_array?: boolean; requirement?: string; enum?: Record<string, { caption: string }>; '@deprecated'?: unknown; caption?: string }
interface Def { name?: string; uid?: number; caption?: string; extends?: string; attributes: Record<string, AttrDef> & { $include?: string[] } }
type Doc = Record<string, unknown>;

const dictionary = schemaFile('dictionary.json');
const SCALARS = new Set(Object.keys((dictionary as unknown as { types: { attributes: Record<string, unknown> } }).types.attributes));
const OBJECT_FILES: Record<string, string> = { email: 'objects/email.json', network_endpoint: 'objects/network_endpoint.json', endpoint: 'objects/endpoint.json', _entity: 'objects/_entity.json', metadata: 'objects/metadata.json', product: 'objects/product.json', feature: 'objects/feature.json', policy: 'objects/policy.json' };

/** Attribute definitions of a class or object: its own over what it extends, each completed from the dictionary. */
function attributesOf(def: Def, load: (name: string) => Def | undefined): Record<string, AttrDef> {
  const parent = def.extends ? load(def.extends) : undefined;
  const inherited = parent ? attributesOf(parent, load) : {};
  const own: Record<string, AttrDef> = {};
  for (const [name, raw] of Object.entries(def.attributes)) {
    if (name === '$include') continue;
    const a = raw as AttrDef;
    const base = inherited[name] ?? dictionary.attributes[name] ?? {};
    // An enum given by the class extends the inherited one (base_event's 0/99 plus the class's own values).
    const en = a.enum ? { ...(inherited[name]?.enum ?? {}), ...a.enum } : base.enum;
    own[name] = { ...base, ...a, ...(en ? { enum: en } : {}) };
  }
  return { ...inherited, ...own };
}
const loadObject = (name: string) => (OBJECT_FILES[name] ? schemaFile(OBJECT_FILES[name]) : undefined);

const email_activity = schemaFile('events/network/email_activity.json');
const category = (schemaFile('categories.json').attributes as unknown as Record<string, { uid: number; caption: string }>).network!;
const CLASS_UID = category.uid * 1000 + email_activity.uid!;

function classAttributes(profiles: string[]): Record<string, AttrDef> {
  const attrs = attributesOf(email_activity, (n) => (n === 'base_event' ? schemaFile('events/base_event.json') : undefined));
  for (const p of profiles) {
    assert.equal(p, 'security_control', `profile ${p} is one the test data holds`);
    for (const [name, a] of Object.entries(schemaFile(`profiles/${p}.json`).attributes)) attrs[name] = { ...dictionary.attributes[name], ...a };
  }
  return attrs;
}

/** Every problem of `doc` against `attrs`, with its path. */
function problems(doc: Doc, attrs: Record<string, AttrDef>, path = ''): string[] {
  const out: string[] = [];
  for (const [name, def] of Object.entries(attrs)) if (def.requirement === 'required' && !(name in doc)) out.push(`${path}${name}: required, missing`);
  for (const [name, value] of Object.entries(doc)) {
    const def = attrs[name];
    const p = `${path}${name}`;
    if (!def) { out.push(`${p}: not an attribute`); continue; }
    if (def['@deprecated']) out.push(`${p}: deprecated`);
    if (def.is_array !== Array.isArray(value) && !(def.is_array === undefined && !Array.isArray(value))) { out.push(`${p}: ${def.is_array ? 'must be an array' : 'must not be an array'}`); continue; }
    for (const v of Array.isArray(value) ? value : [value]) out.push(...valueProblems(v, def, p));
    if (def.enum && name.endsWith('_id')) {
      const caption = def.enum[String(value)]?.caption;
      if (!caption) out.push(`${p}: ${String(value)} is not a value of its enum`);
      const sibling = name === 'activity_id' ? 'activity_name' : name.slice(0, -3);
      if (caption && value !== 99 && sibling in doc && doc[sibling] !== caption) out.push(`${path}${sibling}: "${String(doc[sibling])}" is not the caption "${caption}" of ${name} ${String(value)}`);
    }
  }
  return out;
}

function valueProblems(v: unknown, def: AttrDef, p: string): string[] {
  const t = def.type ?? '';
  if (t === 'object') return v && typeof v === 'object' ? [] : [`${p}: must be an object`];
  if (!SCALARS.has(t)) {
    const obj = loadObject(t);
    if (!obj) return [`${p}: object type ${t} is not in the test data`];
    return v && typeof v === 'object' ? problems(v as Doc, attributesOf(obj, loadObject), `${p}.`) : [`${p}: must be a ${t} object`];
  }
  if (t === 'integer_t' || t === 'long_t' || t === 'timestamp_t') return Number.isInteger(v) ? [] : [`${p}: must be an integer (${t})`];
  if (t === 'boolean_t') return typeof v === 'boolean' ? [] : [`${p}: must be a boolean`];
  if (typeof v !== 'string') return [`${p}: must be a string (${t})`];
  if (t === 'email_t' && !/^[^@\s]+@[^@\s]+$/.test(v)) return [`${p}: "${v}" is not an email address`];
  if (t === 'ip_t' && !isIP(v)) return [`${p}: "${v}" is not an IP address`];
  return [];
}

describe('OCSF 1.8.0 Email Activity (the class definition from the OCSF schema repository)', () => {
  const docs = sampleEvents().map(createFormatter({ format: 'ocsf', acceptedDomains: ACCEPTED, privacy: { drop: [], hash: [] } }));

  it('validates every document: attributes, types, required attributes, enums and their captions, no deprecated attribute', () => {
    for (const doc of docs) {
      const profiles = ((doc.metadata as Doc).profiles as string[] | undefined) ?? [];
      assert.deepEqual(problems(doc, classAttributes(profiles)), [], `event ${String((doc.metadata as Doc).uid)}`);
    }
  });

  it('is a Trace (activity 4) of class 4009 at version 1.8.0, with the message trace id, direction and delivery status', () => {
    assert.equal(CLASS_UID, 4009);
    for (const doc of docs) {
      assert.equal(doc.class_uid, CLASS_UID);
      assert.equal(doc.class_name, email_activity.caption);
      assert.equal(doc.category_uid, category.uid);
      assert.equal(doc.category_name, category.caption);
      assert.equal(doc.activity_id, 4);
      assert.equal(doc.type_uid, CLASS_UID * 100 + 4);
      assert.equal((doc.metadata as Doc).version, '1.8.0');
    }
    assert.deepEqual(docs.map((d) => d.message_trace_uid), sampleEvents().map((e) => e.row.id));
    assert.deepEqual(docs.map((d) => [d.direction_id, d.direction]), [[1, 'Inbound'], [2, 'Outbound'], [3, 'Internal']]);
    assert.deepEqual(docs.map((d) => [d.status_id, d.status, d.status_detail]), [[1, 'Success', 'Delivered'], [2, 'Failure', 'Failed'], [99, 'Quarantined', 'Quarantined']]);
    assert.deepEqual(docs.map((d) => [d.action_id, d.disposition_id]), [[1, 1], [undefined, undefined], [2, 3]]);
  });

  it('validates every detail event\'s document the same way, and tells the kinds apart and correlates them', () => {
    const details = sampleDetailEvents().map(createFormatter({ format: 'ocsf', acceptedDomains: ACCEPTED, privacy: { drop: [], hash: [] } }));
    for (const doc of details) {
      const profiles = ((doc.metadata as Doc).profiles as string[] | undefined) ?? [];
      assert.deepEqual(problems(doc, classAttributes(profiles)), [], `detail ${String((doc.metadata as Doc).uid)} (${String((doc.metadata as Doc).event_code)})`);
      assert.equal((doc.metadata as Doc).log_name, 'MessageTraceDetail');
      assert.equal(doc.type_uid, CLASS_UID * 100 + (doc.activity_id as number));
    }
    for (const doc of docs) assert.equal((doc.metadata as Doc).log_name, 'MessageTrace');
    const byCode = (code: string) => details.filter((d) => (d.metadata as Doc).event_code === code);
    assert.deepEqual([...new Set(details.map((d) => `${String((d.metadata as Doc).event_code)}:${String(d.activity_id)}`))].sort(),
      ['Deliver:4', 'Fail:4', 'Receive:2', 'Send external:1', 'Spam:3', 'Transport rule:3']);
    assert.deepEqual(byCode('Fail').map((d) => [d.status_id, d.status_code]), [[2, '5.1.1'], [2, '5.1.10']]);
    assert.deepEqual(byCode('Spam').map((d) => [d.action_id, d.disposition_id, d.disposition, d.confidence_score, d.confidence_id]), [[4, 99, 'Junk Email folder', 6, 2], [2, 3, 'Quarantined', 9, 3]]);
    assert.deepEqual(byCode('Transport rule').map((d) => [d.disposition_id, (d.policy as Doc).name, (d.policy as Doc).uid]), [[3, 'Quarantine payroll keywords', '9d0c4b1e-7a2f-4c3d-8e5b-6f1a2b3c4d5e']]);
    const failedRow = docs[1]!;
    assert.ok(details.some((d) => (d.metadata as Doc).correlation_uid === (failedRow.metadata as Doc).correlation_uid), 'a detail correlates with its trace row');
  });

  it('catches a document that breaks the definition (so the validation can fail)', () => {
    const bad = { ...docs[0]!, direction_id: 7, email: { ...(docs[0]!.email as Doc), smtp_from: 'a@b.c' }, status: 'Delivered' } as Doc;
    delete bad.time;
    const found = problems(bad, classAttributes(['security_control']));
    assert.ok(found.includes('time: required, missing'), found.join('\n'));
    assert.ok(found.includes('direction_id: 7 is not a value of its enum'), found.join('\n'));
    assert.ok(found.includes('email.smtp_from: deprecated'), found.join('\n'));
    assert.ok(found.includes('status: "Delivered" is not the caption "Success" of status_id 1'), found.join('\n'));
  });
});
