/**
 * The error taxonomy users of the anchor products already know (ARCHITECTURE "Errors and health").
 * An error carries its type from where it is raised to where health is reported.
 *
 * - ThirdPartyConfig: the tenant's setup is wrong (bad secret, missing service principal, missing
 *   permission). Stop the source; no retries until its configuration changes.
 * - ThirdPartyGeneric: the remote service failed in a way that passes (429, 5xx, timeouts, resets,
 *   HTML instead of JSON, a corrupt nextLink). Retry with backoff; past the horizon, park the slice.
 * - FirstPartyGeneric: our side (storage, queue, a destination) failed. Retry; per destination.
 */
export type ErrorType = 'ThirdPartyConfig' | 'ThirdPartyGeneric' | 'FirstPartyGeneric';

export interface CollectorErrorOptions {
  code: string;
  retryable: boolean;
  statusCode?: number;
  /** Seconds the remote asked us to wait (Retry-After), if any. */
  retryAfterSec?: number;
  /** A short excerpt of the offending response body, already free of secrets. */
  excerpt?: string;
  /** What the user should do, in words. */
  fix?: string;
  cause?: unknown;
}

export class CollectorError extends Error {
  readonly type: ErrorType;
  readonly code: string;
  readonly retryable: boolean;
  readonly statusCode?: number;
  readonly retryAfterSec?: number;
  readonly excerpt?: string;
  readonly fix?: string;
  constructor(type: ErrorType, message: string, options: CollectorErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = type;
    this.type = type;
    this.code = options.code;
    this.retryable = options.retryable;
    this.statusCode = options.statusCode;
    this.retryAfterSec = options.retryAfterSec;
    this.excerpt = options.excerpt;
    this.fix = options.fix;
  }

  /**
   * A plain object for health rows and events (no stack, no cause). Every text is bounded
   * (HEALTH_TEXT_MAX characters), so the JSON always fits a Table property (invariant 9).
   */
  toHealth(): { type: ErrorType; code: string; message: string; statusCode?: number; excerpt?: string; fix?: string } {
    return {
      type: this.type,
      code: clip(this.code, 200),
      message: clip(this.message, HEALTH_TEXT_MAX),
      ...(this.statusCode !== undefined ? { statusCode: this.statusCode } : {}),
      ...(this.excerpt !== undefined ? { excerpt: clip(this.excerpt, 400) } : {}),
      ...(this.fix !== undefined ? { fix: clip(this.fix, HEALTH_TEXT_MAX) } : {}),
    };
  }
}

/** Longest message or fix text kept in a health record. */
export const HEALTH_TEXT_MAX = 2000;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function thirdPartyConfig(message: string, options: Omit<CollectorErrorOptions, 'retryable'>): CollectorError {
  return new CollectorError('ThirdPartyConfig', message, { ...options, retryable: false });
}

export function thirdPartyGeneric(message: string, options: Omit<CollectorErrorOptions, 'retryable'> & { retryable?: boolean }): CollectorError {
  return new CollectorError('ThirdPartyGeneric', message, { retryable: true, ...options });
}

export function firstPartyGeneric(message: string, options: Omit<CollectorErrorOptions, 'retryable'> & { retryable?: boolean }): CollectorError {
  return new CollectorError('FirstPartyGeneric', message, { retryable: true, ...options });
}

/** Any thrown value as a CollectorError (unknown errors are FirstPartyGeneric and retryable). */
export function asCollectorError(err: unknown): CollectorError {
  if (err instanceof CollectorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return firstPartyGeneric(`Unexpected error: ${message}`, { code: 'Unexpected', cause: err });
}

/** A short, single-line excerpt of a response body for error messages and health events. */
export function excerptOf(body: string | Buffer | undefined, max = 200): string {
  if (body === undefined) return '';
  const text = (typeof body === 'string' ? body : body.toString('utf8')).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
