import { randomUUID } from 'node:crypto';
import type { FlowRecord, LabContext, SessionEndRecord } from '../../schema/flowRecord.ts';
import { PROBE_VERSION } from '../version.ts';
import type { FlowSink, SinkStats } from './flowSink.ts';

/**
 * Stamps every flow record with this probe run's id and, on close, sends the session-end record
 * (after every flow record, with the same partition key) saying how many flow records the run sent
 * (those its sink kept aside as too large are not counted: they never reach ingest).
 * Ingest settles the session's build once that many are counted.
 */
export class SessionSink implements FlowSink {
  readonly run: string;
  private flows = 0;

  constructor(
    private readonly inner: FlowSink,
    private readonly context: LabContext,
    private readonly clock: () => Date = () => new Date(),
    run: string = randomUUID(),
  ) {
    this.run = run;
  }

  async write(record: FlowRecord): Promise<void> {
    (record.probe as { run?: string }).run = this.run;
    this.flows++;
    await this.inner.write(record);
  }

  /** A flow record serialised with this run's id (`RecordEncoder` with `run`). */
  writeJson(json: string | Buffer, partitionKey = this.context.device.id): Promise<void> {
    this.flows++;
    return this.inner.writeJson(json, partitionKey);
  }

  async close(): Promise<SinkStats> {
    // What the stream holds of the run: a record kept aside (too large to send) is not on it.
    const flows = this.flows - (this.inner.setAside?.() ?? 0);
    const end: SessionEndRecord = {
      schemaVersion: 1,
      kind: 'session-end',
      device: this.context.device,
      firmware: this.context.firmware,
      session: this.context.session,
      endedAt: this.clock().toISOString(),
      flows,
      probe: { version: PROBE_VERSION, run: this.run },
    };
    await this.inner.write(end);
    const stats = await this.inner.close();
    // The session-end record is not a flow record: report flow records only.
    return { ...stats, delivered: Math.max(0, stats.delivered - 1) };
  }
}
