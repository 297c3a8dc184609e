/**
 * HTTP trigger route templates as the Functions host (ASP.NET routing) reads them:
 * `sources/{source}/backfill/{runId?}`, constraints (`{id:int}`, `{id:guid}`, `{flag:bool}`,
 * `{name:alpha}`, `{n:min(1)}`, ...), defaults (`{page=1}`) and catch-all (`{*path}`). Literal
 * segments match case-insensitively. The default route is the function name.
 */

export interface CompiledRoute {
  template: string;
  /** Path match (the part after the route prefix, without leading or trailing slash). */
  match(path: string): Record<string, string> | undefined;
  /** Higher is more specific (literal segments first), for choosing between matching routes. */
  precedence: number;
}

interface Param {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  check: (value: string) => boolean;
}

function constraintCheck(spec: string, where: string): (v: string) => boolean {
  const m = /^(\w+)(?:\((.*)\))?$/.exec(spec);
  if (!m) throw new Error(`${where}: route constraint "${spec}" is not recognised`);
  const [, kind, argRaw] = m;
  const arg = argRaw ?? '';
  switch (kind!.toLowerCase()) {
    case 'int':
    case 'long':
      return (v) => /^-?\d+$/.test(v);
    case 'decimal':
    case 'double':
    case 'float':
      return (v) => /^-?\d+(\.\d+)?$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'guid':
      return (v) => /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(v);
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'datetime':
      return (v) => !Number.isNaN(Date.parse(v));
    case 'min':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= Number(arg);
    case 'max':
      return (v) => /^-?\d+$/.test(v) && Number(v) <= Number(arg);
    case 'range': {
      const [lo, hi] = arg.split(',').map(Number);
      return (v) => /^-?\d+$/.test(v) && Number(v) >= lo! && Number(v) <= hi!;
    }
    case 'minlength':
      return (v) => v.length >= Number(arg);
    case 'maxlength':
      return (v) => v.length <= Number(arg);
    case 'length': {
      const parts = arg.split(',').map(Number);
      return parts.length === 2 ? (v) => v.length >= parts[0]! && v.length <= parts[1]! : (v) => v.length === parts[0];
    }
    case 'regex': {
      const re = new RegExp(arg, 'i');
      return (v) => re.test(v);
    }
    default:
      throw new Error(`${where}: route constraint "${kind}" is not supported by the local host`);
  }
}

function parseParam(body: string, where: string): Param {
  let text = body;
  let catchAll = false;
  if (text.startsWith('**')) {
    catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith('*')) {
    catchAll = true;
    text = text.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = text.indexOf('=');
  if (eq >= 0) {
    defaultValue = text.slice(eq + 1);
    text = text.slice(0, eq);
  }
  let optional = false;
  if (text.endsWith('?')) {
    optional = true;
    text = text.slice(0, -1);
  }
  const [name, ...constraints] = text.split(':');
  if (!name || !/^\w+$/.test(name)) throw new Error(`${where}: route parameter "{${body}}" has no valid name`);
  const checks = constraints.map((c) => constraintCheck(c, where));
  return { name, optional: optional || defaultValue !== undefined || catchAll, catchAll, defaultValue, check: (v) => checks.every((c) => c(v)) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a route template. `where` names the function for errors. */
export function compileRoute(template: string, where: string): CompiledRoute {
  const trimmed = template.replace(/^[~/]+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const params: Param[] = [];
  let pattern = '';
  let precedence = 0;
  segments.forEach((segment, i) => {
    const whole = /^\{([^{}]+)\}$/.exec(segment);
    if (whole) {
      const p = parseParam(whole[1]!, where);
      params.push(p);
      if (p.catchAll && i !== segments.length - 1) throw new Error(`${where}: catch-all parameter {${whole[1]}} must be the last segment of route "${template}"`);
      const group = p.catchAll ? '(.*)' : '([^/]+)';
      pattern += p.optional ? `(?:/${group})?` : `/${group}`;
      precedence += p.catchAll ? 0 : 1;
      return;
    }
    // A literal segment, possibly with embedded parameters ("{name}.{ext}").
    let segPattern = '';
    let last = 0;
    for (const m of segment.matchAll(/\{([^{}]+)\}/g)) {
      segPattern += escapeRe(segment.slice(last, m.index));
      const p = parseParam(m[1]!, where);
      if (p.catchAll) throw new Error(`${where}: catch-all parameter {${m[1]}} must be a whole segment in route "${template}"`);
      params.push({ ...p, optional: false });
      segPattern += '([^/]+?)';
      last = m.index! + m[0].length;
    }
    segPattern += escapeRe(segment.slice(last));
    if (/[{}]/.test(segment.slice(last))) throw new Error(`${where}: route "${template}" has an unbalanced brace in segment "${segment}"`);
    pattern += `/${segPattern}`;
    precedence += last === 0 ? 2 : 1;
  });
  const names = params.map((p) => p.name.toLowerCase());
  const dupe = names.find((n, i) => names.indexOf(n) !== i);
  if (dupe) throw new Error(`${where}: route "${template}" uses parameter "${dupe}" twice`);
  const re = new RegExp(`^${pattern}/?$`, 'i');
  return {
    template: trimmed,
    precedence: precedence * 100 - params.filter((p) => p.optional).length,
    match(path: string): Record<string, string> | undefined {
      const m = re.exec(path === '' ? '' : `/${path.replace(/^\/+/, '')}`);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      for (let i = 0; i < params.length; i++) {
        const p = params[i]!;
        const raw = m[i + 1];
        if (raw === undefined || raw === '') {
          if (p.defaultValue !== undefined) values[p.name] = p.defaultValue;
          continue;
        }
        let value: string;
        try {
          value = p.catchAll ? raw.split('/').map(decodeURIComponent).join('/') : decodeURIComponent(raw);
        } catch {
          return undefined;
        }
        if (!p.check(value)) return undefined;
        values[p.name] = value;
      }
      return values;
    },
  };
}
