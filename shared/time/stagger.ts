/**
 * Where in a period a periodic per-source task (the recovery sweep, the ledger prune, the detail
 * sweep) falls for a key, so that the sources of a deployment spread over the period instead of
 * running in one timer run. The key's SHA-256, not a string hash of its characters: sources named
 * `customer-001` to `customer-999` differ in their last characters only, and a polynomial string
 * hash put all of them within about 9 seconds of each other (issue 19: every sweep of 1000 sources
 * fell in one planning step). Callers pass the source id alone (not the table prefix as well), so
 * the schedule of a source is the same in every process and every test run.
 */
import crypto from 'node:crypto';

export function staggerMs(key: string, periodMs: number): number {
  if (!(periodMs > 0)) return 0;
  return crypto.createHash('sha256').update(key).digest().readUInt32BE(0) % Math.floor(periodMs);
}
