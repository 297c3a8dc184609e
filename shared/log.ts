/**
 * Structured logs: a message plus fields (source, slice, page, destination). Never pass a secret.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export const consoleLogger: Logger = {
  log(level, message, fields) {
    const line = fields && Object.keys(fields).length ? `${message} ${JSON.stringify(fields)}` : message;
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else if (level === 'info') console.log(line);
    else console.debug(line);
  },
};

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Keeps the lines at or above a level: a line that carries a `source` field uses that source's
 * `logLevel` (so one source can be debugged, or quietened, on its own); every other line uses
 * `defaultLevel` (info).
 */
export function levelFiltered(inner: Logger, levelOfSource: (sourceId: string) => LogLevel | undefined, defaultLevel: LogLevel = 'info'): Logger {
  return {
    log(level, message, fields) {
      const source = typeof fields?.source === 'string' ? fields.source : undefined;
      const min = (source !== undefined ? levelOfSource(source) : undefined) ?? defaultLevel;
      if (RANK[level] >= RANK[min]) inner.log(level, message, fields);
    },
  };
}

export const silentLogger: Logger = { log() {} };

/** A logger that keeps every line, for tests that scan logs (for example for secret values). */
export class MemoryLogger implements Logger {
  readonly lines: { level: LogLevel; message: string; fields?: Record<string, unknown> }[] = [];
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, message, ...(fields ? { fields } : {}) });
  }
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message} ${l.fields ? JSON.stringify(l.fields) : ''}`).join('\n');
  }
}
