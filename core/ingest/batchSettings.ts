/**
 * How the Kinesis event source batches records for ingest: the stack's defaults (`-c
 * ingestBatchSize=`, `-c ingestBatchWindowSeconds=`) and what local mode's poller does. Ingest
 * writes each item once per batch, so its cost per flow falls with the batch (docs/cost.md).
 */
export const INGEST_BATCH = {
  /** Records per invocation at most (the event source's limit is 10,000). */
  size: 10_000,
  /** Seconds the event source gathers records before invoking ingest when fewer arrive. */
  windowSeconds: 10,
  /** Lambda's synchronous invocation payload limit: the event source stops a batch before it. */
  maxPayloadBytes: 6 * 1024 * 1024,
} as const;

/** What one record adds to an invocation's event, besides its base64 data (ids, ARNs, JSON). */
export const EVENT_RECORD_OVERHEAD_BYTES = 600;
