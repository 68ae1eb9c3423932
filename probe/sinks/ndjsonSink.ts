import { once } from 'node:events';
import type { StreamRecord as FlowRecord } from '../../schema/flowRecord.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';

/** Lines are written in batches of about this many characters (one write call per batch). */
const BATCH_CHARACTERS = 256 * 1024;

/** One JSON record per line, batched, honouring the output's backpressure. */
export class NdjsonSink implements FlowSink {
  private delivered = 0;
  private pending: (string | Buffer)[] = [];
  private buffers = false;
  private pendingLength = 0;

  constructor(private readonly output: NodeJS.WritableStream) {}

  write(record: FlowRecord): Promise<void> {
    return this.writeJson(JSON.stringify(record));
  }

  async writeJson(json: string | Buffer): Promise<void> {
    this.pending.push(json);
    if (typeof json !== 'string') this.buffers = true;
    this.pendingLength += json.length + 1;
    this.delivered++;
    if (this.pendingLength >= BATCH_CHARACTERS) await this.flush();
  }

  async close(): Promise<SinkStats> {
    await this.flush();
    return { delivered: this.delivered, retried: 0 };
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.buffers ? joinLines(this.pending) : `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.buffers = false;
    this.pendingLength = 0;
    if (!this.output.write(text)) await once(this.output, 'drain');
  }
}

const NEWLINE = Buffer.from('\n');

/** Lines given as text or bytes, each followed by a newline, in one buffer. */
function joinLines(lines: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const line of lines) parts.push(typeof line === 'string' ? Buffer.from(line) : line, NEWLINE);
  return Buffer.concat(parts);
}
