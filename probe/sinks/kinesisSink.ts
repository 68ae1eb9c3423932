import { setTimeout as delay } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { StreamRecord as FlowRecord } from '../../schema/flowRecord.ts';
import { DeliveryError } from '../errors.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';

/** PutRecords limits (Kinesis API reference, PutRecords): 500 entries and 5 MiB per request, 1 MiB per record. */
export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
export const RECORD_MAX_BYTES = 1024 * 1024;

export interface KinesisSinkOptions {
  readonly client: KinesisClient;
  readonly streamName?: string;
  readonly streamArn?: string;
  /** Attempts per entry before the run fails. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff; doubled per attempt, with full jitter. @default 100 */
  readonly baseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Batches records into PutRecords calls and re-sends only the entries a response marks as failed
 * (ProvisionedThroughputExceeded, InternalFailure), with exponential backoff and full jitter.
 * Records are keyed by device id so one device's records stay ordered on one shard.
 */
export class KinesisSink implements FlowSink {
  private batch: PutRecordsRequestEntry[] = [];
  private batchBytes = 0;
  private delivered = 0;
  private retried = 0;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: KinesisSinkOptions) {
    if (!options.streamName && !options.streamArn)
      throw new Error('KinesisSink needs streamName or streamArn');
    this.maxAttempts = options.maxAttempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? delay;
  }

  async write(record: FlowRecord): Promise<void> {
    const data = Buffer.from(JSON.stringify(record));
    const partitionKey = record.device.id.slice(0, 256);
    const size = data.length + Buffer.byteLength(partitionKey);
    if (size > RECORD_MAX_BYTES) {
      throw new DeliveryError(
        `${'flow' in record ? `flow ${record.flow.id} from ${record.probe.capture}` : 'session-end record'} is ${size} bytes, over the 1 MiB Kinesis record limit`,
      );
    }
    if (this.batch.length >= PUT_RECORDS_MAX_ENTRIES || this.batchBytes + size > PUT_RECORDS_MAX_BYTES) {
      await this.flush();
    }
    this.batch.push({ Data: data, PartitionKey: partitionKey });
    this.batchBytes += size;
  }

  async close(): Promise<SinkStats> {
    await this.flush();
    return { delivered: this.delivered, retried: this.retried };
  }

  private async flush(): Promise<void> {
    let pending = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    for (let attempt = 1; pending.length > 0; attempt++) {
      let failed: PutRecordsRequestEntry[];
      let lastError: string;
      try {
        const response = await this.options.client.send(
          new PutRecordsCommand({
            Records: pending,
            ...(this.options.streamArn
              ? { StreamARN: this.options.streamArn }
              : { StreamName: this.options.streamName }),
          }),
        );
        const results = response.Records ?? [];
        failed = pending.filter((_, i) => results[i]?.ErrorCode !== undefined || results[i] === undefined);
        this.delivered += pending.length - failed.length;
        lastError = results.find((r) => r.ErrorCode)?.ErrorCode ?? '';
      } catch (error) {
        // A whole-request failure (throttling, network) retries every entry of the request.
        failed = pending;
        lastError = (error as Error).message;
      }
      if (failed.length === 0) return;
      if (attempt >= this.maxAttempts) {
        throw new DeliveryError(
          `${failed.length} records not accepted by Kinesis after ${attempt} attempts (last error: ${lastError})`,
        );
      }
      this.retried += failed.length;
      pending = failed;
      await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 1));
    }
  }
}
