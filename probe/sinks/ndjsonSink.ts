import { once } from 'node:events';
import type { StreamRecord as FlowRecord } from '../../schema/flowRecord.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';

/** Lines are written in batches of about this many bytes (one write call per batch). */
const BATCH_BYTES = 256 * 1024;

/**
 * One JSON record per line, batched, honouring the output's backpressure: lines are copied into a
 * batch buffer, written when full. (Batches are not reused through the write callback: a file or
 * pipe stdout calls it on a later tick, which a probe reading a file without pause reaches only at
 * the end, so every batch would be kept until then.)
 */
export class NdjsonSink implements FlowSink {
  private delivered = 0;
  private batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  private length = 0;

  constructor(private readonly output: NodeJS.WritableStream) {}

  write(record: FlowRecord): Promise<void> {
    return this.writeJson(JSON.stringify(record));
  }

  /**
   * One line; a Buffer is copied before the call returns (the caller may reuse it). Not an async
   * function: a line that fits the batch returns one settled promise, allocating none.
   */
  writeJson(json: string | Buffer): Promise<void> {
    this.delivered++;
    // At most 3 bytes per UTF-16 unit; a line larger than a batch goes out on its own.
    const most = (typeof json === 'string' ? json.length * 3 : json.length) + 1;
    if (most > BATCH_BYTES) return this.writeAlone(json);
    if (this.length + most > BATCH_BYTES) return this.flush().then(() => this.append(json));
    this.append(json);
    return SETTLED;
  }

  private append(json: string | Buffer): void {
    this.length +=
      typeof json === 'string' ? this.batch.write(json, this.length) : json.copy(this.batch, this.length);
    this.batch[this.length++] = 0x0a;
  }

  private async writeAlone(json: string | Buffer): Promise<void> {
    await this.flush();
    await this.send(Buffer.concat([typeof json === 'string' ? Buffer.from(json) : json, NEWLINE]));
  }

  async close(): Promise<SinkStats> {
    await this.flush();
    return { delivered: this.delivered, retried: 0 };
  }

  private async flush(): Promise<void> {
    if (this.length === 0) return;
    const chunk = this.batch.subarray(0, this.length);
    this.batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.length = 0;
    await this.send(chunk);
  }

  private async send(chunk: Buffer): Promise<void> {
    if (!this.output.write(chunk)) await once(this.output, 'drain');
  }
}

const NEWLINE = Buffer.from('\n');
const SETTLED: Promise<void> = Promise.resolve();
