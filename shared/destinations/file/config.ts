/** `file`: NDJSON files in a folder, for local runs and tests. Options: docs/destinations.md#file. */
import { z } from 'zod';
import { intField } from '../../config-common/fields';
import { MAX_BATCH_RECORDS } from '../limits';
import { parseEntry, type DestinationCommonConfig } from '../config-common';
import type { DestinationKind } from '../../config-common/kinds';

export interface FileDestinationConfig extends DestinationCommonConfig {
  type: 'file';
  /** Folder for NDJSON files (created when missing). */
  directory: string;
  maxBatchRecords: number;
}

export const fileConfig: DestinationKind<FileDestinationConfig> = {
  type: 'file',
  aliases: ['ndjson'],
  example: '{"id": "local", "type": "file", "directory": "./out"}',
  parse(raw, path, keyVaultUri, out) {
    const entry = parseEntry(raw, path, out, {
      type: 'file', keyVaultUri, defaultFormat: 'raw',
      aliases: { path: 'directory', dir: 'directory', folder: 'directory' },
      shape: {
        directory: z
          .string({ error: 'must be the folder for the NDJSON files, e.g. "./out"' })
          .refine((s) => s.trim() !== '' && !s.includes('\0'), { error: 'must be the folder for the NDJSON files, e.g. "./out"' }),
        maxBatchRecords: intField(1, MAX_BATCH_RECORDS, 5000).default(5000),
      },
    });
    if (!entry) return undefined;
    return { ...entry.common, type: 'file', directory: entry.data.directory, maxBatchRecords: entry.data.maxBatchRecords };
  },
};
