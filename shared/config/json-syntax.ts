/**
 * Finds where JSON text stops being valid JSON, with a short reason, so a configuration error can
 * say "line 12, column 5: expected ',' or '}'" without repeating the text (V8's own JSON.parse
 * messages quote the input, and the input may hold a pasted secret).
 */

export interface JsonSyntaxProblem {
  /** 1-based line and column of the offending character. */
  line: number;
  column: number;
  reason: string;
}

class Stop extends Error {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Returns the first syntax problem in `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  let i = 0;
  const n = text.length;

  const ws = () => {
    while (i < n && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (reason: string): never => {
    if (i >= n) throw new Stop(n, `unexpected end of the text (${reason})`);
    if (text[i] === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) throw new Stop(i, 'comments are not allowed in JSON; remove them');
    if (text[i] === "'") throw new Stop(i, 'strings and field names need double quotes (") in JSON, not single quotes');
    throw new Stop(i, reason);
  };

  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    fail('expected a value: an object, list, string, number, true, false or null');
  };
  const object = () => {
    i++;
    ws();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === '}') fail('a comma before "}" is not allowed in JSON (trailing comma)');
      if (text[i] !== '"') fail('expected a field name in double quotes');
      string();
      ws();
      if (text[i] !== ':') fail("expected ':' after the field name");
      i++;
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail("expected ',' or '}' after a field's value");
    }
  };
  const array = () => {
    i++;
    ws();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === ']') fail('a comma before "]" is not allowed in JSON (trailing comma)');
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail("expected ',' or ']' after a list item");
    }
  };
  const string = () => {
    i++;
    while (i < n) {
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape in a string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          fail('invalid escape in a string (use \\\\ for a backslash)');
        }
        continue;
      }
      if (c < ' ') fail('a line break or control character inside a string is not allowed; use \\n');
      i++;
    }
    fail('a string is not closed with "');
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('invalid number');
    i += m![0].length;
  };

  try {
    value();
    ws();
    if (i < n) fail('unexpected text after the end of the JSON document');
    return undefined;
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    const before = text.slice(0, err.index);
    const lines = before.split('\n');
    return { line: lines.length, column: lines[lines.length - 1].length + 1, reason: err.reason };
  }
}
