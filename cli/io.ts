/** Where a command writes, and the usage error every command throws for a bad argument (exit 2). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Rewrites the current terminal line (progress); only called when isTTY. */
  live?(line: string): void;
  isTTY: boolean;
}

// Output piped into a reader that stops early (`mtc soak --help | head`) ends the writes, not the
// process with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

export const processIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  live: (l) => process.stdout.write(`\r\x1b[2K${l}`),
  isTTY: !!process.stdout.isTTY,
};

/** A bad argument or option value: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
