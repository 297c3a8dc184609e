/** Upper bounds of the generic batching options. */
export const MAX_BATCH_BYTES = 10_000_000;
export const MAX_BATCH_RECORDS = 100_000;
