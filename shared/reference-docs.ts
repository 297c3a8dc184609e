/**
 * Documentation generated from declarations in code, so it cannot drift (like the telemetry
 * reference in shared/telemetry.ts): each block sits between `<!-- generated: <name> -->` and
 * `<!-- end generated: <name> -->` in a doc, and test/unit/generated-docs.test.ts checks that every
 * block equals its rendering. `npm run docs` (scripts/generate-docs.ts) rewrites them.
 *
 * - source-states (docs/operations.md): shared/health.ts SOURCE_STATES
 * - status-states (docs/api.md): the same states, one line
 * - http-routes (docs/api.md): shared/http-api.ts HTTP_ROUTES
 * - app-settings (docs/configuration.md): shared/settings.ts APP_SETTINGS
 */
import { SOURCE_STATES } from './health';
import { HTTP_ROUTES, type HttpRouteDeclaration } from './http-api';
import { APP_SETTINGS, RUNTIME_SETTINGS } from './settings';

export const beginMarker = (name: string) => `<!-- generated: ${name} (do not edit; npm run docs) -->`;
export const endMarker = (name: string) => `<!-- end generated: ${name} -->`;

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function renderSourceStates(): string {
  return table(['state', 'meaning', 'what moves the source here'], SOURCE_STATES.map((s) => [`\`${s.state}\``, s.meaning, s.movedBy]));
}

export function renderStatusStates(): string {
  return `\`state\` is one of ${SOURCE_STATES.map((s) => `\`${s.state}\` (${s.meaning})`).join(', ')}; what moves a source to each: [docs/operations.md](operations.md#health-states).`;
}

export function renderHttpRoutes(): string {
  const rows: string[][] = [];
  for (const [name, r] of Object.entries(HTTP_ROUTES) as [string, HttpRouteDeclaration][]) {
    for (const m of r.methods) rows.push([`\`${m} /api/${r.route}\``, `\`${name}\``, r.authLevel, r.summary[m] ?? '']);
  }
  return table(['request', 'function', 'key', 'what it does'], rows);
}

export function renderAppSettings(): string {
  // A typed setting (RUNTIME_SETTINGS) also says what a valid value is: the start-up check rejects anything else.
  const typed = new Map(Object.values(RUNTIME_SETTINGS).map((t) => [t.name, t.parser.expected]));
  return table(['setting', 'required in Azure', 'meaning'], APP_SETTINGS.map((s) => [
    `\`${s.name}\``, s.requiredInAzure ? 'yes' : 'no', typed.has(s.name) ? `${s.description} Valid: ${typed.get(s.name)}.` : s.description,
  ]));
}

export interface GeneratedBlock { name: string; doc: string; render: () => string }

export const GENERATED_BLOCKS: readonly GeneratedBlock[] = [
  { name: 'source-states', doc: 'docs/operations.md', render: renderSourceStates },
  { name: 'status-states', doc: 'docs/api.md', render: renderStatusStates },
  { name: 'http-routes', doc: 'docs/api.md', render: renderHttpRoutes },
  { name: 'app-settings', doc: 'docs/configuration.md', render: renderAppSettings },
];

/** The block as it must appear in its doc: markers around the rendering. */
export function blockText(b: GeneratedBlock): string {
  return `${beginMarker(b.name)}\n${b.render()}\n${endMarker(b.name)}`;
}

/** `text` with the block replaced by its current rendering; throws when the markers are missing. */
export function replaceBlock(text: string, b: GeneratedBlock): string {
  const begin = text.indexOf(beginMarker(b.name));
  const end = text.indexOf(endMarker(b.name));
  if (begin < 0 || end < begin) throw new Error(`${b.doc} has no markers for the generated block "${b.name}"`);
  return text.slice(0, begin) + blockText(b) + text.slice(end + endMarker(b.name).length);
}

/** The block's current text in `doc` (markers included), or undefined without markers. */
export function currentBlock(text: string, b: GeneratedBlock): string | undefined {
  const begin = text.indexOf(beginMarker(b.name));
  const end = text.indexOf(endMarker(b.name));
  return begin < 0 || end < begin ? undefined : text.slice(begin, end + endMarker(b.name).length);
}
