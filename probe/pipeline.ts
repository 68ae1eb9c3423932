import type { FlowRecord, LabContext } from '../schema/flowRecord.ts';
import type { CapturedPacket } from './capture/capturedPacket.ts';
import { PacketDecoder } from './decode/packet.ts';
import { SkipCounter } from './decode/skipReasons.ts';
import { FlowTable, type FlowTableLimits, type TlsDecryptStats } from './flowTable.ts';
import { RecordEncoder } from './recordJson.ts';
import { TlsKeyLog } from './tls/keyLog.ts';

export type ProbeInput = NonNullable<FlowRecord['probe']['input']>;

/**
 * Where the probe's records go: record objects to a callback (tests, the local pipeline), or JSON
 * text made once by `RecordEncoder`, stamped with the run's id (the probe command's sinks).
 */
export type ProbeOutput = ((record: FlowRecord) => Promise<void>) | JsonRecordOutput;

/** Records as JSON text or bytes, stamped with the run's id: what the probe command's sinks take. */
export interface JsonRecordOutput {
  readonly run: string;
  readonly writeJson: (json: string | Buffer) => Promise<void>;
}

/** Writes a record object to either kind of output (HAR input makes objects). */
export function writeRecord(output: ProbeOutput, record: FlowRecord): Promise<void> {
  if (typeof output === 'function') return output(record);
  (record.probe as { run?: string }).run = output.run;
  return output.writeJson(JSON.stringify(record));
}

/**
 * Captured packets in, flow records out: decoding and the flow table, shared by file reading and
 * live listeners. Records are made synchronously while packets are added and handed to `emit`
 * by `drain`, which the caller awaits between batches of packets.
 */
export class ProbePipeline {
  packets = 0;
  flows = 0;
  readonly skipped = new SkipCounter();
  /** Flow tables (threads) reading the capture. */
  readonly tables = 1;
  private readonly decoder = new PacketDecoder();
  private readonly table: FlowTable;
  private readonly ready: (FlowRecord | string)[] = [];

  constructor(
    context: LabContext,
    captureName: string,
    private readonly output: ProbeOutput,
    /** TLS secrets (key logs; pcapng secrets blocks are added as they are read). */
    readonly keyLog: TlsKeyLog = new TlsKeyLog(),
    /** The flow table's limits (a live connection's share of the probe's). @default FlowTable's */
    limits: Partial<FlowTableLimits> = {},
  ) {
    const ready = (record: FlowRecord | string) => {
      this.flows++;
      this.ready.push(record);
    };
    this.table = new FlowTable(
      context,
      captureName,
      ready,
      limits,
      typeof output === 'function'
        ? undefined
        : { encoder: new RecordEncoder(context, captureName, output.run), emit: ready },
    );
    this.table.keyLog = keyLog;
  }

  /** A key log read from the capture (a pcapng secrets block): flows closing from now on may use it. */
  addSecrets(text: string, source: string): void {
    this.keyLog.addText(text, source);
  }

  /** What the key material opened. */
  get tlsStats(): TlsDecryptStats {
    return this.table.tlsStats;
  }

  set input(input: ProbeInput) {
    this.table.input = input;
  }

  /** Latest capture time seen (live input uses it to close idle flows between packets). */
  lastPacketMicros = 0;

  add(packet: CapturedPacket): void {
    this.packets++;
    if (packet.timestampMicros > this.lastPacketMicros) this.lastPacketMicros = packet.timestampMicros;
    const decoder = this.decoder;
    const decoded = decoder.decodeCaptured(packet);
    if (decoded === 'ok') this.table.add(decoder.view);
    else if (decoded !== 'held') this.skipped.add(decoded);
  }

  /** Flows seen so far: emitted plus still open. */
  get flowsSeen(): number {
    return this.flows + this.table.openFlows;
  }

  /** Closes flows idle or lingering at `nowMicros` (capture time). */
  tick(nowMicros: number): void {
    this.table.tick(nowMicros);
  }

  /** Hands every record made so far to `emit`, in order. */
  async drain(): Promise<void> {
    while (this.ready.length > 0) {
      const batch = this.ready.splice(0);
      const output = this.output;
      if (typeof output === 'function') for (const record of batch) await output(record as FlowRecord);
      else for (const json of batch) await output.writeJson(json as string);
    }
  }

  /** Emits every flow still open and drains. */
  async finish(): Promise<void> {
    this.table.flushAll();
    await this.drain();
  }

  /** The run failed: nothing to stop (the parallel pipeline stops its workers). */
  async abort(): Promise<void> {}
}
