import { once } from 'node:events';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';

/** One JSON record per line, honouring the output's backpressure. */
export class NdjsonSink implements FlowSink {
  private delivered = 0;
  constructor(private readonly output: NodeJS.WritableStream) {}

  async write(record: FlowRecord): Promise<void> {
    this.delivered++;
    if (!this.output.write(`${JSON.stringify(record)}\n`)) await once(this.output, 'drain');
  }

  async close(): Promise<SinkStats> {
    return { delivered: this.delivered, retried: 0 };
  }
}
