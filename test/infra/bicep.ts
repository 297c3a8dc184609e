/**
 * Offline Bicep checks for the infra tests: a syntax gate (tree-sitter-bicep's WASM grammar run by
 * web-tree-sitter, pure JS, no Bicep CLI, no native build, no network) and small helpers that read
 * declarations out of the parse tree for the policy assertions.
 *
 * What this does not catch: types, unknown properties, API versions and linter rules. Those need
 * `bicep build` / `az deployment group validate` where the Bicep CLI and a subscription exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

/** The repository root (tests run compiled from dist/test/infra). */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'infra'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no repository root (a folder with package.json and infra/) above ${start}`);
    dir = parent;
  }
}

export interface SyntaxProblem {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  message: string;
}

export interface ParsedBicep {
  file: string;
  text: string;
  root: Node;
  problems: SyntaxProblem[];
}

let parserPromise: Promise<Parser> | undefined;

/** One parser for the whole test process (loading the WASM grammar takes a moment). */
export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

/** Parses Bicep text and lists every syntax error or missing token with its line and column. */
export async function parseBicep(text: string, file = '<inline>'): Promise<ParsedBicep> {
  const parser = await bicepParser();
  const tree = parser.parse(text);
  if (!tree) throw new Error(`tree-sitter returned no tree for ${file}`);
  const problems: SyntaxProblem[] = [];
  const visit = (node: Node): void => {
    if (node.isMissing) {
      problems.push({ line: node.startPosition.row + 1, column: node.startPosition.column + 1, message: `missing ${node.type}` });
    } else if (node.isError) {
      const snippet = node.text.split('\n')[0]!.slice(0, 40);
      problems.push({ line: node.startPosition.row + 1, column: node.startPosition.column + 1, message: `syntax error near '${snippet}'` });
    }
    if (node.hasError || node.isMissing) for (const child of node.children) if (child) visit(child);
  };
  visit(tree.rootNode);
  return { file, text, root: tree.rootNode, problems };
}

/** `file:line:column message` lines, the format editors and CI logs link. */
export function formatProblems(parsed: ParsedBicep): string {
  return parsed.problems.map((p) => `${parsed.file}:${p.line}:${p.column} ${p.message}`).join('\n');
}

/** Every .bicep file under infra/, as paths relative to the repository root. */
export function bicepFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.bicep')) out.push(rel);
    }
  };
  walk('infra');
  return out.sort();
}

export async function parseBicepFile(relPath: string): Promise<ParsedBicep> {
  return parseBicep(fs.readFileSync(path.join(REPO_ROOT, relPath), 'utf8'), relPath);
}

/** All nodes of a type, depth first. */
export function descendants(node: Node, type: string): Node[] {
  return node.descendantsOfType(type).filter((n): n is Node => n !== null);
}

/** The text of a string literal without quotes (interpolations kept as written). */
export function stringValue(node: Node | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  return node.text.replace(/^'|'$/g, '');
}

/** The key of an object property, whether written as an identifier or a quoted string. */
export function propertyKey(prop: Node): string {
  const key = prop.namedChildren[0]!;
  return key.type === 'string' ? stringValue(key)! : key.text;
}

/** The value node of an object property. */
export function propertyValue(prop: Node): Node {
  return prop.namedChildren[prop.namedChildren.length - 1]!;
}

/** The direct properties of an object node, by key. */
export function objectProperties(obj: Node): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const child of obj.namedChildren) {
    if (child?.type === 'object_property' && child.namedChildren.length >= 2) map.set(propertyKey(child), propertyValue(child));
  }
  return map;
}

/** Looks up a dotted path of properties (`properties.allowSharedKeyAccess`) in an object node. */
export function propertyAt(obj: Node, dotted: string): Node | undefined {
  let current: Node | undefined = obj;
  for (const part of dotted.split('.')) {
    if (!current || current.type !== 'object') return undefined;
    current = objectProperties(current).get(part);
  }
  return current;
}

export interface ResourceDeclaration {
  symbol: string;
  /** e.g. `Microsoft.Storage/storageAccounts@2023-05-01` (or a child type such as `config`). */
  type: string;
  /** Whether it is an `existing` reference. */
  existing: boolean;
  /** The resource body (inside `if (...)` or `[for ...]` when present). */
  body: Node;
  node: Node;
}

/** Every resource declaration (top level and nested), with its body object. */
export function resources(root: Node): ResourceDeclaration[] {
  return descendants(root, 'resource_declaration').map((node) => {
    const named = node.namedChildren.filter((n): n is Node => n !== null);
    const symbol = named[0]!.text;
    const type = stringValue(named[1]) ?? '';
    const last = named[named.length - 1]!;
    const body = last.type === 'object'
      ? last
      : descendants(last, 'object')[0] ?? last;
    return { symbol, type, existing: /\bexisting\s*=/.test(node.text.split('\n')[0] ?? ''), body, node };
  });
}

export interface Declaration {
  kind: 'param' | 'output' | 'var';
  name: string;
  /** Decorator call texts such as `secure()` or `minValue(1)`. */
  decorators: string[];
  /** Declared type text (params and outputs). */
  typeText?: string;
  /** Default value (params) or value (outputs, vars). */
  value?: Node;
  node: Node;
}

/** Top-level params, outputs and vars with their decorators. */
export function declarations(root: Node): Declaration[] {
  const out: Declaration[] = [];
  let pendingDecorators: string[] = [];
  for (const child of root.namedChildren) {
    if (!child) continue;
    if (child.type === 'decorators') {
      pendingDecorators = child.namedChildren.filter((d): d is Node => d !== null).map((d) => d.text.replace(/^@/, ''));
      continue;
    }
    const kind = child.type === 'parameter_declaration' ? 'param'
      : child.type === 'output_declaration' ? 'output'
        : child.type === 'variable_declaration' ? 'var'
          : undefined;
    if (kind) {
      const named = child.namedChildren.filter((n): n is Node => n !== null);
      const typeNode = named.find((n) => n.type === 'type');
      const valueNode = named.length > 1 && named[named.length - 1] !== typeNode ? named[named.length - 1] : undefined;
      out.push({ kind, name: named[0]!.text, decorators: pendingDecorators, typeText: typeNode?.text, value: valueNode, node: child });
    }
    if (child.type !== 'comment') pendingDecorators = [];
  }
  return out;
}
