import type { StreamRecord as FlowRecord } from '../../schema/flowRecord.ts';

/** Where the probe's records go. `write` may buffer; `close` delivers what is buffered. */
export interface FlowSink {
  write(record: FlowRecord): Promise<void>;
  /**
   * A record already serialised (the probe's `RecordEncoder`): sent as this text, never parsed or
   * serialised again. `partitionKey` is its device id. A Buffer is the caller's again once the
   * returned promise settles: a sink that keeps the bytes copies them.
   */
  writeJson(json: string | Buffer, partitionKey: string): Promise<void>;
  close(): Promise<SinkStats>;
  /**
   * Records kept aside so far instead of sent (over the stream's record size limit): they are not
   * on the stream, so a session-end record must not count them (ingest would wait for them).
   */
  readonly setAside?: () => number;
}

export interface SinkStats {
  readonly delivered: number;
  /** Requests or entries that had to be sent again (throttling, partial failures). */
  readonly retried: number;
  /** Records left in the spool at close: the stream did not take them yet (sent by a later run). */
  readonly spooled?: number;
  /** Records over the stream's record size limit, kept aside instead of sent. */
  readonly oversized?: number;
}
