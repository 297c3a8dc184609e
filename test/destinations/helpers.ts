/** Parses one destination entry as the loader does, failing the test on any issue. */
import assert from 'node:assert/strict';
import { parseDestination } from '../../shared/components';
import { IssueCollector } from '../../shared/config-common/issues';
import type { DestinationConfig } from '../../shared/destinations/registry';
import type { SendContext } from '../../shared/destinations/destination';

export function configOf<T extends DestinationConfig>(entry: Record<string, unknown>): T {
  const out = new IssueCollector();
  const c = parseDestination(entry, ['destinations', 0], 'https://mtc-vault.vault.azure.net', out);
  assert.deepEqual(out.issues, []);
  assert.ok(c);
  return c as T;
}

export function issuesOf(entry: Record<string, unknown>): string[] {
  const out = new IssueCollector();
  parseDestination(entry, ['destinations', 0], 'https://mtc-vault.vault.azure.net', out);
  return out.issues.map((i) => `${i.path}: ${i.message}`);
}

/** A SendContext that records the progress calls. */
export function ctxOf(progress: number[] = [], page = 0): SendContext & { progress: number[] } {
  return { sourceId: 'contoso', sliceId: 'L-001795000000000-001795003600000', page, progress, onProgress: async (n) => { progress.push(n); } };
}

export async function rejection(p: Promise<unknown>): Promise<{ code: string; retryable: boolean; message: string; fix?: string; statusCode?: number }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; retryable: boolean; message: string; fix?: string };
  }
  assert.fail('expected a rejection');
}
