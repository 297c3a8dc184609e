/**
 * A strict check of the `data` blob of getDetailsByRecipient events (reference B.6:
 * `<root><MEP Name="…" String|Integer|Long|Blob="…" />…</root>`).
 *
 * Hand-written on purpose: the XML parsers present in node_modules (fast-xml-parser and sax, both
 * only as dependencies of other packages) accept input that is not well-formed XML, e.g. a bare
 * `&` or a `<` inside an attribute value, a repeated attribute or two root elements, which is
 * exactly what a wrongly escaped blob looks like. This tokenizer follows the XML 1.0 rules for the
 * subset the blob uses (elements, attributes, character and entity references, whitespace) and
 * rejects everything else, naming the offset.
 */

export interface XmlElement {
  name: string;
  attributes: Map<string, string>;
  children: XmlElement[];
}

export class XmlError extends Error {}

const NAME = /[A-Za-z_:][A-Za-z0-9._:-]*/y;
const SPACE = /[ \t\r\n]+/y;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Parses a well-formed XML document made of elements and attributes only; throws XmlError otherwise. */
export function parseStrictXml(xml: string): XmlElement {
  let i = 0;
  const fail = (what: string): never => {
    throw new XmlError(`${what} at offset ${i}: …${xml.slice(Math.max(0, i - 20), i + 20)}…`);
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(xml);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const skipSpace = () => void match(SPACE);
  const attrValue = (): string => {
    const quote = xml[i];
    if (quote !== '"' && quote !== "'") fail('an attribute value must be quoted');
    i++;
    let out = '';
    while (true) {
      if (i >= xml.length) fail('unterminated attribute value');
      const c = xml[i]!;
      if (c === quote) {
        i++;
        return out;
      }
      if (c === '<') fail("'<' inside an attribute value");
      if (c === '&') {
        const end = xml.indexOf(';', i);
        if (end < 0) fail("'&' without a reference");
        const ref = xml.slice(i + 1, end);
        let text: string | undefined;
        if (/^#[0-9]+$/.test(ref)) text = String.fromCodePoint(...[Number(ref.slice(1))].filter(isXmlChar));
        else if (/^#x[0-9a-fA-F]+$/.test(ref)) text = String.fromCodePoint(...[parseInt(ref.slice(2), 16)].filter(isXmlChar));
        else text = ENTITIES[ref];
        if (!text) fail(`'&${ref};' is not a valid reference`);
        out += text;
        i = end + 1;
        continue;
      }
      const cp = xml.codePointAt(i)!;
      if (!isXmlChar(cp)) fail(`character U+${cp.toString(16)} is not allowed in XML`);
      out += String.fromCodePoint(cp);
      i += cp > 0xffff ? 2 : 1;
    }
  };
  const element = (): XmlElement => {
    if (xml[i] !== '<') fail("expected '<'");
    i++;
    const name = match(NAME) ?? fail('expected an element name');
    const attributes = new Map<string, string>();
    while (true) {
      const hadSpace = match(SPACE) !== undefined;
      if (xml.startsWith('/>', i)) {
        i += 2;
        return { name, attributes, children: [] };
      }
      if (xml[i] === '>') {
        i++;
        break;
      }
      if (!hadSpace) fail('attributes must be separated by whitespace');
      const attr = match(NAME) ?? fail('expected an attribute name');
      skipSpace();
      if (xml[i] !== '=') fail(`attribute ${attr} has no '='`);
      i++;
      skipSpace();
      if (attributes.has(attr)) fail(`attribute ${attr} is repeated`);
      attributes.set(attr, attrValue());
    }
    const children: XmlElement[] = [];
    while (true) {
      skipSpace();
      if (i >= xml.length) fail(`element <${name}> is not closed`);
      if (xml.startsWith('</', i)) {
        i += 2;
        const close = match(NAME);
        if (close !== name) fail(`</${close ?? ''}> closes <${name}>`);
        skipSpace();
        if (xml[i] !== '>') fail("expected '>'");
        i++;
        return { name, attributes, children };
      }
      if (xml[i] !== '<') fail('text is not allowed here (only elements)');
      children.push(element());
    }
  };
  skipSpace();
  const root = element();
  skipSpace();
  if (i !== xml.length) fail('content after the root element');
  return root;
}

export type MepType = 'String' | 'Integer' | 'Long' | 'Blob';
export interface Mep { name: string; type: MepType; value: string }

/**
 * The MEP entries of a detail `data` blob: a `root` element whose children are empty `MEP`
 * elements, each with a Name and exactly one value attribute (String, Integer, Long or Blob;
 * Integer and Long hold integers). Throws XmlError naming what is wrong.
 */
export function parseMeps(xml: string): Mep[] {
  const root = parseStrictXml(xml);
  if (root.name !== 'root' || root.attributes.size !== 0) throw new XmlError(`the root element must be a bare <root>, got <${root.name}>`);
  return root.children.map((c, k) => {
    if (c.name !== 'MEP' || c.children.length) throw new XmlError(`child ${k} must be an empty <MEP>, got <${c.name}>`);
    const name = c.attributes.get('Name');
    const types = [...c.attributes.keys()].filter((a) => a !== 'Name');
    if (name === undefined || types.length !== 1 || !['String', 'Integer', 'Long', 'Blob'].includes(types[0]!)) {
      throw new XmlError(`MEP ${k} must have Name and one of String, Integer, Long, Blob; has ${[...c.attributes.keys()].join(', ')}`);
    }
    const type = types[0] as MepType;
    const value = c.attributes.get(type)!;
    if ((type === 'Integer' || type === 'Long') && !/^-?\d+$/.test(value)) throw new XmlError(`MEP ${name} is ${type} but holds '${value}'`);
    return { name, type, value };
  });
}

/** The value of the MEP named `name` (undefined when absent). */
export function mep(xml: string, name: string): string | undefined {
  return parseMeps(xml).find((m) => m.name === name)?.value;
}
