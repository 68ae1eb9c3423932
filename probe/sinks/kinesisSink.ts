import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { StreamRecord as FlowRecord } from '../../schema/flowRecord.ts';
import { DeliveryError } from '../errors.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';
import type { Spool } from './spool.ts';

/** PutRecords limits (Kinesis API reference, PutRecords): 500 entries and 5 MiB per request, 1 MiB per record. */
export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
export const RECORD_MAX_BYTES = 1024 * 1024;

/**
 * An `onOversized` that keeps each record too large for the stream in `dir` (owner-only: it holds
 * the raw record) and says where; `probe` keeps them under its spool, `run` under its data dir.
 */
export function keepOversizedIn(dir: string, say: (text: string) => void) {
  let kept = 0;
  return async (data: Buffer, what: string): Promise<void> => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${Date.now()}-${process.pid}-${++kept}.json`);
    await writeFile(file, data, { mode: 0o600 });
    say(`${what}: not sent, kept in ${file}`);
  };
}

export interface KinesisSinkOptions {
  readonly client: KinesisClient;
  readonly streamName?: string;
  readonly streamArn?: string;
  /** Attempts per entry before the run fails. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff; doubled per attempt, with full jitter. @default 100 */
  readonly baseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Where records go when the stream refuses them after every attempt (unreachable, throttled):
   * later batches follow them there, in order, until the stream takes records again.
   * @default none: the run fails with a DeliveryError
   */
  readonly spool?: Spool;
  /** While spooling, how often a batch first tries the stream again (one attempt). @default 5000 */
  readonly recoverEveryMs?: number;
  readonly clock?: () => number;
  /** Called when spooling starts (records spooled, last error). */
  readonly onSpooling?: (records: number, lastError: string) => void;
  /**
   * Where a record over the 1 MiB Kinesis limit goes (kept, with what it is), instead of failing the
   * run: the probe's own records fit (flowTable.ts fitContent), others (HAR input) may not.
   * @default none: the run fails with a DeliveryError
   */
  readonly onOversized?: (data: Buffer, what: string) => Promise<void>;
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
  private oversized = 0;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly recoverEveryMs: number;
  private readonly clock: () => number;
  private spooling = false;
  private lastTry = 0;
  private spoolChecked = false;

  constructor(private readonly options: KinesisSinkOptions) {
    if (!options.streamName && !options.streamArn)
      throw new Error('KinesisSink needs streamName or streamArn');
    this.maxAttempts = options.maxAttempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? delay;
    this.recoverEveryMs = options.recoverEveryMs ?? 5000;
    this.clock = options.clock ?? Date.now;
  }

  write(record: FlowRecord): Promise<void> {
    return this.writeJson(JSON.stringify(record), record.device.id);
  }

  readonly setAside = () => this.oversized;

  /** Frames the record's text once: these bytes are the entry's Data in every attempt and the spool. */
  async writeJson(json: string | Buffer, deviceId: string): Promise<void> {
    // A copy either way: a Buffer given is the caller's to reuse once this returns.
    const data = Buffer.from(json as string);
    const partitionKey = deviceId.slice(0, 256);
    const size = data.length + Buffer.byteLength(partitionKey);
    if (size > RECORD_MAX_BYTES) {
      const flow = /"flow":\{"id":"([0-9a-f]+)"/.exec(data.toString('utf8', 0, 4096))?.[1];
      const capture = /,"capture":("(?:[^"\\]|\\.)*")/.exec(data.toString('utf8', data.length - 2048))?.[1];
      const what = `${flow ? `flow ${flow}${capture ? ` from ${JSON.parse(capture)}` : ''}` : 'session-end record'} is ${size} bytes, over the 1 MiB Kinesis record limit`;
      if (!this.options.onOversized) throw new DeliveryError(what);
      await this.options.onOversized(data, what);
      this.oversized++;
      return;
    }
    if (this.batch.length >= PUT_RECORDS_MAX_ENTRIES || this.batchBytes + size > PUT_RECORDS_MAX_BYTES) {
      await this.flush();
    }
    this.batch.push({ Data: data, PartitionKey: partitionKey });
    this.batchBytes += size;
  }

  async close(): Promise<SinkStats> {
    await this.flush();
    const spool = this.options.spool;
    let spooled = 0;
    if (spool && (await spool.files()).length > 0) {
      // Whatever is still spooled gets one more full try before the run ends.
      this.spooling = !(await this.sendSpooled(this.maxAttempts));
      if (this.spooling) spooled = await spool.size();
    }
    return {
      delivered: this.delivered,
      retried: this.retried,
      ...(spooled > 0 ? { spooled } : {}),
      ...(this.oversized > 0 ? { oversized: this.oversized } : {}),
    };
  }

  /**
   * Sends what earlier runs (or this one) spooled, oldest first. True when the spool is empty
   * afterwards; false when the stream still refuses (what was not accepted stays spooled).
   */
  async sendSpooled(maxAttempts = this.maxAttempts): Promise<boolean> {
    const spool = this.options.spool;
    if (!spool) return true;
    for (const file of await spool.files()) {
      // A spool file is one batch (or what is left of one): it fits one PutRecords request.
      const { rest } = await this.send(await spool.read(file), maxAttempts);
      // What was refused stays, in order; a file all of whose records were accepted goes.
      await spool.keep(file, rest);
      if (rest.length > 0) return false;
    }
    return true;
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (batch.length === 0) return;
    const spool = this.options.spool;
    if (spool && !this.spoolChecked) {
      // What an earlier run spooled goes first, so a device's records keep their order.
      this.spoolChecked = true;
      if ((await spool.files()).length > 0 && !(await this.sendSpooled(this.maxAttempts))) {
        this.spooling = true;
        this.lastTry = this.clock();
      }
    }
    if (spool && this.spooling) {
      // Cut off: try the stream again now and then (one attempt), else keep the order by spooling.
      const now = this.clock();
      if (now - this.lastTry >= this.recoverEveryMs) {
        this.lastTry = now;
        if (await this.sendSpooled(1)) this.spooling = false;
      }
      if (this.spooling) {
        await spool.add(batch);
        return;
      }
    }
    const { rest, lastError } = await this.send(batch, this.maxAttempts);
    if (rest.length === 0) return;
    if (!spool) {
      throw new DeliveryError(
        `${rest.length} records not accepted by Kinesis after ${this.maxAttempts} attempts (last error: ${lastError})`,
      );
    }
    await spool.add(rest);
    this.spooling = true;
    this.lastTry = this.clock();
    this.options.onSpooling?.(rest.length, lastError);
  }

  /** PutRecords with retries of the refused entries; returns what was still refused at the end. */
  private async send(
    entries: PutRecordsRequestEntry[],
    maxAttempts: number,
  ): Promise<{ rest: PutRecordsRequestEntry[]; lastError: string }> {
    let pending = entries;
    let lastError = '';
    for (let attempt = 1; pending.length > 0; attempt++) {
      let failed: PutRecordsRequestEntry[];
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
      if (failed.length === 0) return { rest: [], lastError };
      if (attempt >= maxAttempts) return { rest: failed, lastError };
      this.retried += failed.length;
      pending = failed;
      await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 1));
    }
    return { rest: [], lastError };
  }
}
