/**
 * The HTTP API's routes, declared once: the functions register them from here (functions/*.ts) and
 * the route table of docs/api.md is generated from them (shared/reference-docs.ts).
 */
export interface HttpRouteDeclaration {
  methods: ('GET' | 'POST')[];
  authLevel: 'function' | 'anonymous' | 'admin';
  /** The route template after the /api prefix. */
  route: string;
  /** What each method does, for the docs. */
  summary: Partial<Record<'GET' | 'POST', string>>;
}

export const HTTP_ROUTES = {
  backfill: {
    methods: ['POST', 'GET'], authLevel: 'function', route: 'sources/{source}/backfill/{runId?}',
    summary: { POST: 'start a backfill of `{"start", "end"}` (202 with `runId` and `statusUrl`)', GET: 'a backfill run\'s progress (with `{runId}`)' },
  },
  status: {
    methods: ['GET'], authLevel: 'function', route: 'status/{source?}',
    summary: { GET: 'every source\'s status (or one): state, watermarks, lag, last error, parked slices, runs' },
  },
  replay: {
    methods: ['POST'], authLevel: 'function', route: 'sources/{source}/replay',
    summary: { POST: 'replay parked slices and parked detail records (all, or `{"sliceIds": [...]}` and/or `{"detailRecords": [...]}`) and resume a source stopped in `Error`' },
  },
  replayDestination: {
    methods: ['POST'], authLevel: 'function', route: 'sources/{source}/destinations/{destination}/replay',
    summary: { POST: 'replay a destination of a source: resume it when parked (its backlog drains, the ranges it missed are re-collected for it alone) and retry the units it refused' },
  },
  diagnose: {
    methods: ['GET'], authLevel: 'function', route: 'sources/{source}/diagnose',
    summary: { GET: 'run the preflight diagnosis of a source now (token, permission, one-row probe) and return it' },
  },
} as const satisfies Record<string, HttpRouteDeclaration>;

export type HttpFunctionName = keyof typeof HTTP_ROUTES;

/** The options of `app.http(name, …)` for a declared route (without the handler). */
export function httpTrigger(name: HttpFunctionName): { methods: ('GET' | 'POST')[]; authLevel: 'function' | 'anonymous' | 'admin'; route: string } {
  const r: HttpRouteDeclaration = HTTP_ROUTES[name];
  return { methods: [...r.methods], authLevel: r.authLevel, route: r.route };
}

/** The error body of an HTTP API answer that is not a success. */
export type HttpApiError = {
  error: string;
  field?: string;
  message: string;
};

/** The message for a source name that is not configured, naming the ones that are (HTTP API and CLI). */
export function unknownSourceMessage(sources: readonly { id: string }[], id: string | undefined): string {
  return `no source "${id ?? ''}" is configured; the sources are ${sources.map((s) => `"${s.id}"`).join(', ') || '(none)'}`;
}

/**
 * The one lookup of a source by the `{source}` of a route: the source, or the 404 every HTTP
 * function answers for a name that is not configured.
 */
export function lookupSource<S extends { id: string }>(
  config: { sources: readonly S[] },
  id: string | undefined,
): { source: S; notFound?: undefined } | { source?: undefined; notFound: { status: 404; body: HttpApiError } } {
  const source = id ? config.sources.find((s) => s.id === id) : undefined;
  if (source) return { source };
  return { notFound: { status: 404, body: { error: 'NotFound', field: 'source', message: unknownSourceMessage(config.sources, id) } } };
}
