import { CaptureFormatError } from '../errors.ts';
import { CapturedPacket, type CaptureParser, type PacketCallback, RecordFramer } from './capturedPacket.ts';

/**
 * Classic libpcap files. Spec: draft-ietf-opsawg-pcap (File Header §4, Packet Record §5):
 * micro- or nanosecond timestamps, either byte order.
 */
const FILE_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
/** A record larger than this is not a packet but a corrupt length field. */
export const MAX_RECORD_LENGTH = 256 * 1024;
export const PCAP_MAGIC = { microseconds: 0xa1b2c3d4, nanoseconds: 0xa1b23c4d } as const;

export interface PcapHeader {
  readonly littleEndian: boolean;
  readonly nanosecond: boolean;
  readonly snapLength: number;
  readonly linkType: number;
}

export function parsePcapHeader(header: Buffer, source: string): PcapHeader {
  if (header.length < FILE_HEADER_LENGTH) {
    throw new CaptureFormatError(`${source}: pcap file header cut short: ${header.length} of 24 bytes`);
  }
  const big = header.readUInt32BE(0);
  const little = header.readUInt32LE(0);
  const magics: number[] = [PCAP_MAGIC.microseconds, PCAP_MAGIC.nanoseconds];
  const littleEndian = magics.includes(little);
  if (!littleEndian && !magics.includes(big)) {
    throw new CaptureFormatError(
      `${source}: not a pcap file: bad magic number 0x${big.toString(16).padStart(8, '0')} at offset 0`,
    );
  }
  const magic = littleEndian ? little : big;
  const u32 = (offset: number) => (littleEndian ? header.readUInt32LE(offset) : header.readUInt32BE(offset));
  return {
    littleEndian,
    nanosecond: magic === PCAP_MAGIC.nanoseconds,
    snapLength: u32(16),
    // The upper bits of the LinkType field carry FCS information (draft §4).
    linkType: u32(20) & 0x0fffffff,
  };
}

export class ClassicPcapParser implements CaptureParser {
  readonly format = 'pcap';
  private header: PcapHeader | undefined;
  private readonly packet = new CapturedPacket();
  private onPacket: PacketCallback = () => undefined;
  private readonly framer = new RecordFramer(
    (buffer, fileOffset) => this.parse(buffer, fileOffset),
    (buffer) => this.needed(buffer),
  );

  constructor(private readonly source: string) {}

  push(chunk: Buffer, onPacket: PacketCallback): void {
    this.onPacket = onPacket;
    this.framer.push(chunk);
  }

  finish(): { truncatedTailBytes: number } {
    if (!this.header) {
      throw new CaptureFormatError(
        `${this.source}: pcap file header cut short: ${this.framer.pendingBytes} of 24 bytes`,
      );
    }
    return { truncatedTailBytes: this.framer.pendingBytes };
  }

  private needed(buffer: Buffer): number {
    if (!this.header) return FILE_HEADER_LENGTH;
    if (buffer.length < RECORD_HEADER_LENGTH) return RECORD_HEADER_LENGTH;
    const capturedLength = this.header.littleEndian ? buffer.readUInt32LE(8) : buffer.readUInt32BE(8);
    return RECORD_HEADER_LENGTH + Math.min(capturedLength, MAX_RECORD_LENGTH + 1);
  }

  private parse(buffer: Buffer, fileOffset: number): number {
    let offset = 0;
    if (!this.header) {
      if (buffer.length < FILE_HEADER_LENGTH) return 0;
      this.header = parsePcapHeader(buffer, this.source);
      offset = FILE_HEADER_LENGTH;
    }
    const { littleEndian, nanosecond, linkType, snapLength } = this.header;
    const onPacket = this.onPacket;
    while (buffer.length - offset >= RECORD_HEADER_LENGTH) {
      const seconds = littleEndian ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset);
      const fraction = littleEndian ? buffer.readUInt32LE(offset + 4) : buffer.readUInt32BE(offset + 4);
      const capturedLength = littleEndian ? buffer.readUInt32LE(offset + 8) : buffer.readUInt32BE(offset + 8);
      const originalLength = littleEndian
        ? buffer.readUInt32LE(offset + 12)
        : buffer.readUInt32BE(offset + 12);
      if (capturedLength > MAX_RECORD_LENGTH) {
        throw new CaptureFormatError(
          `${this.source}: corrupt packet record at byte ${fileOffset + offset}: captured length ${capturedLength} exceeds ${MAX_RECORD_LENGTH} (file snaplen ${snapLength})`,
        );
      }
      const end = offset + RECORD_HEADER_LENGTH + capturedLength;
      if (end > buffer.length) break;
      const packet = this.packet;
      packet.timestampMicros = seconds * 1_000_000 + (nanosecond ? Math.floor(fraction / 1000) : fraction);
      packet.capturedLength = capturedLength;
      packet.originalLength = originalLength;
      packet.buffer = buffer;
      packet.offset = offset + RECORD_HEADER_LENGTH;
      packet.linkType = linkType;
      packet.fileOffset = fileOffset + offset;
      onPacket(packet);
      offset = end;
    }
    return offset;
  }
}
