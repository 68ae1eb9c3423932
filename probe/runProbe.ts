import type { FlowRecord, LabContext } from '../schema/flowRecord.ts';
import { readCapture } from './capture/openCapture.ts';
import { PacketDecoder } from './decode/packet.ts';
import { SkipCounter } from './decode/skipReasons.ts';
import { FlowTable } from './flowTable.ts';

export interface ProbeStats {
  readonly capture: string;
  format: 'pcap' | 'pcapng' | 'unknown';
  compressed: boolean;
  packets: number;
  flows: number;
  readonly skipped: SkipCounter;
  /** Bytes of a final record cut short (capture stopped mid-write). */
  truncatedTailBytes: number;
  bytesRead: number;
}

export interface RunProbeOptions {
  readonly onProgress?: (stats: ProbeStats) => void;
}

/**
 * Reads one capture (pcap or pcapng, gzip or not) and emits one flow record per flow, in the order
 * flows close. Packets that cannot be decoded are counted by reason and skipped; a bad file header
 * throws `CaptureFormatError` before anything is emitted.
 */
export async function runProbe(
  input: AsyncIterable<Buffer>,
  captureName: string,
  context: LabContext,
  emit: (record: FlowRecord) => Promise<void>,
  options: RunProbeOptions = {},
): Promise<ProbeStats> {
  const stats: ProbeStats = {
    capture: captureName,
    format: 'unknown',
    compressed: false,
    packets: 0,
    flows: 0,
    skipped: new SkipCounter(),
    truncatedTailBytes: 0,
    bytesRead: 0,
  };
  // Records are produced synchronously while a chunk is parsed and sent between chunks.
  const ready: FlowRecord[] = [];
  const table = new FlowTable(context, captureName, (record) => {
    stats.flows++;
    ready.push(record);
  });
  const decoder = new PacketDecoder();
  const send = async () => {
    for (const record of ready.splice(0)) await emit(record);
  };
  const result = await readCapture(input, captureName, {
    onFormat: (format) => {
      table.input = format;
    },
    onPacket: (packet) => {
      stats.packets++;
      const decoded = decoder.decode(
        packet.linkType,
        packet.buffer,
        packet.offset,
        packet.offset + packet.capturedLength,
        packet.timestampMicros,
        packet.capturedLength < packet.originalLength,
      );
      if (decoded === 'ok') table.add(decoder.view);
      else if (decoded !== 'held') stats.skipped.add(decoded);
    },
    afterChunk: send,
    onProgress: (bytesRead) => {
      stats.bytesRead = bytesRead;
      options.onProgress?.(stats);
    },
  });
  table.flushAll();
  await send();
  stats.format = result.format;
  stats.compressed = result.compressed;
  stats.truncatedTailBytes = result.truncatedTailBytes;
  stats.bytesRead = result.bytesRead;
  return stats;
}
