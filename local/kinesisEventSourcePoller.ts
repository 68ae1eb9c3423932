import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { EVENT_RECORD_OVERHEAD_BYTES, INGEST_BATCH } from '../core/ingest/batchSettings.ts';

/**
 * Drives a Lambda Kinesis handler the way Lambda's event source mapping does: per shard, batches
 * of up to `batchSize` records in order; with ReportBatchItemFailures, the next attempt starts at
 * the lowest failed sequence number; a thrown error bisects the batch (or retries a single record); when the
 * attempts are spent, the batch's metadata goes to the on-failure destination and the shard moves on.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (error handling, batch item failures)
 */
export interface PollerOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  readonly streamArn: string;
  /**
   * The function, as one execution environment has it: shards are processed one after the other,
   * since a Lambda environment never runs two invocations at once. Or a maker of environments
   * (`{ environment }`): each shard gets its own and all shards are processed at the same time, as
   * the mapping does (one batch in flight per shard, ParallelizationFactor 1).
   */
  readonly handler: KinesisHandler | { readonly environment: () => KinesisHandler };
  readonly onFailure: (failure: OnFailureRecord) => Promise<void>;
  /** Records per invocation at most. @default INGEST_BATCH.size (10,000) */
  readonly batchSize?: number;
  /** An invocation's event stays under this many bytes, as Lambda's 6 MB payload limit makes it. @default INGEST_BATCH.maxPayloadBytes */
  readonly maxPayloadBytes?: number;
  /** Retries after the first attempt, as the event source's `retryAttempts`. @default 3 */
  readonly retryAttempts?: number;
  /** @default true */
  readonly bisectBatchOnError?: boolean;
  readonly functionName?: string;
  /**
   * Where each shard's position is kept (leakwatch serve: on disk), so a restarted poller goes on
   * after the last batch it finished instead of from the start of the stream. A crash between a
   * batch and its checkpoint processes that batch again, which ingest counts once.
   */
  readonly checkpoints?: ShardCheckpoints;
}

export interface ShardCheckpoints {
  /** The sequence number of the last record processed on the shard, if any. */
  get(shardId: string): string | undefined;
  set(shardId: string, sequenceNumber: string): Promise<void>;
}

export type KinesisHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | undefined>;

/** What Lambda sends to an on-failure destination for a stream batch (metadata, not the records). */
export interface OnFailureRecord {
  readonly kind: 'event-source-failure';
  readonly condition: 'RetryAttemptsExhausted';
  readonly functionName: string;
  readonly lastError: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  readonly failedAt: string;
}

export interface PollerStats {
  batches: number;
  invocations: number;
  records: number;
  failedBatches: number;
}

function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export class KinesisEventSourcePoller {
  readonly stats: PollerStats = { batches: 0, invocations: 0, records: 0, failedBatches: 0 };
  private readonly batchSize: number;
  private readonly maxPayloadBytes: number;
  private readonly retryAttempts: number;
  private readonly bisect: boolean;
  private readonly functionName: string;
  private readonly iterators = new Map<string, string>();
  private readonly environments = new Map<string, KinesisHandler>();

  constructor(private readonly options: PollerOptions) {
    this.batchSize = options.batchSize ?? INGEST_BATCH.size;
    this.maxPayloadBytes = options.maxPayloadBytes ?? INGEST_BATCH.maxPayloadBytes;
    this.retryAttempts = options.retryAttempts ?? 3;
    this.bisect = options.bisectBatchOnError ?? true;
    this.functionName = options.functionName ?? 'leakwatch-ingest-local';
  }

  /** Processes every record now on the stream and returns when all shards are caught up. */
  async drain(): Promise<PollerStats> {
    const { Shards: shards = [] } = await this.options.client.send(
      new ListShardsCommand({ StreamName: this.options.streamName }),
    );
    const { handler } = this.options;
    if (typeof handler === 'function') {
      for (const shard of shards) await this.drainShard(shard.ShardId!, handler);
    } else {
      await Promise.all(
        shards.map((shard) => {
          const shardId = shard.ShardId!;
          const environment = this.environments.get(shardId) ?? handler.environment();
          this.environments.set(shardId, environment);
          return this.drainShard(shardId, environment);
        }),
      );
    }
    return this.stats;
  }

  private async drainShard(shardId: string, handler: KinesisHandler): Promise<void> {
    let iterator = this.iterators.get(shardId);
    if (!iterator) {
      const after = this.options.checkpoints?.get(shardId);
      const response = await this.options.client.send(
        new GetShardIteratorCommand({
          StreamName: this.options.streamName,
          ShardId: shardId,
          ...(after
            ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
            : { ShardIteratorType: 'TRIM_HORIZON' }),
        }),
      );
      iterator = response.ShardIterator!;
    }
    while (iterator) {
      const page: GetRecordsCommandOutput = await this.options.client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: this.batchSize }),
      );
      const records = page.Records ?? [];
      for (const batch of this.byPayload(records)) {
        this.stats.batches++;
        this.stats.records += batch.length;
        await this.processBatch(shardId, handler, batch);
        await this.options.checkpoints?.set(shardId, batch[batch.length - 1]!.SequenceNumber!);
      }
      iterator = page.NextShardIterator ?? '';
      if (records.length === 0) break;
    }
    // Later drains continue after what was processed, as the mapping's checkpoint does.
    if (iterator) this.iterators.set(shardId, iterator);
  }

  /** A page of records as the invocations Lambda would make of it: each event under the payload limit. */
  private byPayload(records: KinesisRecord[]): KinesisRecord[][] {
    const batches: KinesisRecord[][] = [];
    let batch: KinesisRecord[] = [];
    let bytes = 0;
    for (const record of records) {
      const size = Math.ceil((record.Data?.length ?? 0) / 3) * 4 + EVENT_RECORD_OVERHEAD_BYTES;
      if (batch.length > 0 && bytes + size > this.maxPayloadBytes) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(record);
      bytes += size;
    }
    if (batch.length > 0) batches.push(batch);
    return batches;
  }

  private toEvent(shardId: string, records: KinesisRecord[]): KinesisStreamEvent {
    return {
      Records: records.map(
        (record): KinesisStreamRecord => ({
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: record.PartitionKey!,
            sequenceNumber: record.SequenceNumber!,
            data: Buffer.from(record.Data!).toString('base64'),
            approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
          },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: `${shardId}:${record.SequenceNumber}`,
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::000000000000:role/leakwatch-ingest-local',
          awsRegion: 'us-east-1',
          eventSourceARN: this.options.streamArn,
        }),
      ),
    };
  }

  private async processBatch(
    shardId: string,
    handler: KinesisHandler,
    batch: KinesisRecord[],
  ): Promise<void> {
    let pending = batch;
    let lastError = '';
    for (let attempt = 0; attempt <= this.retryAttempts; attempt++) {
      this.stats.invocations++;
      let response: KinesisStreamBatchResponse | undefined;
      try {
        response = await handler(this.toEvent(shardId, pending), lambdaContext(this.functionName));
      } catch (error) {
        lastError = (error as Error).message;
        // Splitting does not count against the retry attempts; each half gets its own.
        if (this.bisect && pending.length > 1) {
          const middle = Math.ceil(pending.length / 2);
          await this.processBatch(shardId, handler, pending.slice(0, middle));
          await this.processBatch(shardId, handler, pending.slice(middle));
          return;
        }
        continue;
      }
      const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      if (failed.size === 0) return;
      // Resume at the lowest failed sequence number: the records before it are done.
      const firstFailed = pending.findIndex((record) => failed.has(record.SequenceNumber!));
      if (firstFailed < 0) return;
      pending = pending.slice(firstFailed);
      lastError = `batch item failure at sequence number ${pending[0]!.SequenceNumber}`;
    }
    this.stats.failedBatches++;
    await this.options.onFailure({
      kind: 'event-source-failure',
      condition: 'RetryAttemptsExhausted',
      functionName: this.functionName,
      lastError,
      KinesisBatchInfo: {
        shardId,
        startSequenceNumber: pending[0]!.SequenceNumber!,
        endSequenceNumber: pending[pending.length - 1]!.SequenceNumber!,
        batchSize: pending.length,
        streamArn: this.options.streamArn,
      },
      failedAt: new Date().toISOString(),
    });
  }
}
