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
  },
};

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
