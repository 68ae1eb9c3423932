import type { FlowRecord, LabContext } from '../schema/flowRecord.ts';
import type { CapturedPacket } from './capture/capturedPacket.ts';
import { PacketDecoder } from './decode/packet.ts';
import { SkipCounter } from './decode/skipReasons.ts';
import { FlowTable } from './flowTable.ts';

export type ProbeInput = NonNullable<FlowRecord['probe']['input']>;

/**
 * Captured packets in, flow records out: decoding and the flow table, shared by file reading and
 * live listeners. Records are made synchronously while packets are added and handed to `emit`
 * by `drain`, which the caller awaits between batches of packets.
 */
export class ProbePipeline {
  packets = 0;
  flows = 0;
  readonly skipped = new SkipCounter();
  private readonly decoder = new PacketDecoder();
  private readonly table: FlowTable;
  private readonly ready: FlowRecord[] = [];

  constructor(
    context: LabContext,
    captureName: string,
    private readonly emit: (record: FlowRecord) => Promise<void>,
  ) {
    this.table = new FlowTable(context, captureName, (record) => {
      this.flows++;
      this.ready.push(record);
    });
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
    const decoded = decoder.decode(
      packet.linkType,
      packet.buffer,
      packet.offset,
      packet.offset + packet.capturedLength,
      packet.timestampMicros,
      packet.capturedLength < packet.originalLength,
    );
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
      for (const record of batch) await this.emit(record);
    }
  }

  /** Emits every flow still open and drains. */
  async finish(): Promise<void> {
    this.table.flushAll();
    await this.drain();
  }
}
