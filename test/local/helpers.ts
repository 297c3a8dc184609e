/** Small helpers for the local host tests. */
import path from 'node:path';

/** Polls `condition` every 20 ms (real time) until it holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The compiled fixture entry (this file runs from dist/test/local/). */
export const fixtureEntry = path.join(__dirname, 'fixtures', 'functions.js');

/** The fixture host.json (not copied by tsc, so read from the source tree). */
export const fixtureHostJson = path.resolve(__dirname, '..', '..', '..', 'test', 'local', 'fixtures', 'host.json');

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** Collects host log lines for assertions. */
export function logCollector() {
  const lines: { level: string; message: string; data?: Record<string, unknown> }[] = [];
  return {
    lines,
    log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => {
      lines.push({ level, message, data });
    },
  };
}
