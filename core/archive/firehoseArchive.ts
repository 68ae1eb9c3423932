import { setTimeout as delay } from 'node:timers/promises';
import { type FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { BatchCreatePartitionCommand, type GlueClient } from '@aws-sdk/client-glue';
import { type ArchiveRow, type ArchiveSink, archivePartitionPath, archiveStorage } from './archiveRow.ts';

/** PutRecordBatch takes up to 500 records and 4 MiB a call. */
const MAX_RECORDS = 500;
const MAX_BYTES = 4 * 1024 * 1024;
/**
 * Rows per Firehose record: the stream's multi-record deaggregation splits at most 500 JSON lines
 * out of one record, and a record holds at most 1,000 KiB. Firehose bills each record rounded up to
 * 5 KB, so a row of about 1 KB alone in a record would be billed five times its size.
 */
const ROWS_PER_RECORD = 500;
const MAX_RECORD_BYTES = 1000 * 1024;

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

export interface FirehoseArchiveOptions {
  /** Registers the partitions rows go to, so Athena sees them (Firehose does not). */
  readonly partitions?: GluePartitions;
  /** Attempts for records Firehose did not accept (throttling, service errors). @default 4 */
  readonly maxAttempts?: number;
  readonly backoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * The archive on AWS: rows as JSON lines to a Firehose delivery stream, up to 500 rows to a record,
 * which the stream deaggregates, converts to Parquet (the Glue table's schema) and writes to S3
 * partitioned by day and model (dynamic partitioning on each row's `dt` and `model`). Records
 * Firehose reports as failed are sent again with backoff; if some still fail, flush throws and the
 * ingest invocation fails, so Lambda delivers the batch again.
 */
export class FirehoseArchive implements ArchiveSink {
  private rows: ArchiveRow[] = [];

  constructor(
    private readonly firehose: FirehoseClient,
    private readonly deliveryStreamName: string,
    private readonly options: FirehoseArchiveOptions = {},
  ) {}

  add(row: ArchiveRow): void {
    this.rows.push(row);
  }

  async flush(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    if (rows.length === 0) return;
    await this.options.partitions?.ensure(rows);
    const records = [...packed(rows.map((row) => Buffer.from(`${JSON.stringify(row)}\n`)))];
    for (const chunk of chunks(records)) await this.put(chunk);
  }

  private async put(records: Buffer[]): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 4;
    const sleep = this.options.sleep ?? delay;
    let pending = records;
    let lastError = '';
    for (let attempt = 1; ; attempt++) {
      const result = await this.firehose.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: this.deliveryStreamName,
          Records: pending.map((Data) => ({ Data })),
        }),
      );
      if (!result.FailedPutCount) return;
      const responses = result.RequestResponses ?? [];
      const failed = pending.filter((_, i) => responses[i]?.ErrorCode);
      const first = responses.find((r) => r.ErrorCode);
      lastError = `${first?.ErrorCode}: ${first?.ErrorMessage ?? ''}`;
      pending = failed;
      if (attempt >= maxAttempts)
        throw new ArchiveError(
          `Firehose stream ${this.deliveryStreamName} did not accept ${pending.length} of ${records.length} records (${rowsIn(pending)} archive rows) after ${maxAttempts} attempts (${lastError})`,
        );
      await sleep((this.options.backoffMs ?? 100) * 2 ** (attempt - 1));
    }
  }
}

/** JSON lines packed into Firehose records: up to 500 rows and 1,000 KiB each. */
function* packed(lines: Buffer[]): Generator<Buffer> {
  let rows: Buffer[] = [];
  let bytes = 0;
  for (const line of lines) {
    if (rows.length === ROWS_PER_RECORD || (rows.length > 0 && bytes + line.length > MAX_RECORD_BYTES)) {
      yield Buffer.concat(rows);
      rows = [];
      bytes = 0;
    }
    rows.push(line);
    bytes += line.length;
  }
  if (rows.length > 0) yield Buffer.concat(rows);
}

/** How many JSON lines (rows) records hold. */
const rowsIn = (records: readonly Buffer[]) =>
  records.reduce((sum, record) => sum + record.toString('utf8').split('\n').length - 1, 0);

/** Splits records into PutRecordBatch calls (500 records, 4 MiB). */
function* chunks(records: Buffer[]): Generator<Buffer[]> {
  let chunk: Buffer[] = [];
  let bytes = 0;
  for (const record of records) {
    if (chunk.length === MAX_RECORDS || (chunk.length > 0 && bytes + record.length > MAX_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(record);
    bytes += record.length;
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Adds the Glue partitions (day, model) that archive rows go to, once per execution environment
 * each: Athena then reads new days without a crawler or MSCK REPAIR. A partition that exists
 * already is fine.
 */
export class GluePartitions {
  private readonly known = new Set<string>();

  constructor(
    private readonly glue: GlueClient,
    private readonly target: { database: string; table: string; bucket: string },
  ) {}

  async ensure(rows: readonly ArchiveRow[]): Promise<void> {
    const wanted = new Map<string, { dt: string; model: string }>();
    for (const { dt, model } of rows) {
      const key = `${dt}/${model}`;
      if (!this.known.has(key)) wanted.set(key, { dt, model });
    }
    const partitions = [...wanted.entries()];
    for (let i = 0; i < partitions.length; i += 100) {
      const batch = partitions.slice(i, i + 100);
      const result = await this.glue.send(
        new BatchCreatePartitionCommand({
          DatabaseName: this.target.database,
          TableName: this.target.table,
          PartitionInputList: batch.map(([, p]) => {
            const storage = archiveStorage(`s3://${this.target.bucket}/${archivePartitionPath(p)}`);
            return {
              Values: [p.dt, p.model],
              StorageDescriptor: {
                Location: storage.location,
                InputFormat: storage.inputFormat,
                OutputFormat: storage.outputFormat,
                SerdeInfo: {
                  SerializationLibrary: storage.serdeInfo.serializationLibrary,
                  Parameters: storage.serdeInfo.parameters,
                },
                Columns: storage.columns.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
              },
            };
          }),
        }),
      );
      const failed = (result.Errors ?? []).filter(
        (e) => e.ErrorDetail?.ErrorCode !== 'AlreadyExistsException',
      );
      if (failed.length > 0)
        throw new ArchiveError(
          `Glue did not add ${failed.length} archive partition(s) of ${this.target.database}.${this.target.table}: ${failed
            .map(
              (e) =>
                `${e.PartitionValues?.join('/')}: ${e.ErrorDetail?.ErrorCode} ${e.ErrorDetail?.ErrorMessage ?? ''}`,
            )
            .join('; ')}`,
        );
      for (const [key] of batch) this.known.add(key);
    }
  }
}
