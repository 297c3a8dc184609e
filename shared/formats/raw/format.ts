/** `raw`: the event envelope, unchanged (after the privacy rules). */
import type { FormatSpec } from '../spec';

export const rawFormat = { name: 'raw', map: (event) => event as unknown as Record<string, unknown> } as const satisfies FormatSpec;
