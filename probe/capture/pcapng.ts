import { CaptureFormatError } from '../errors.ts';
import { CapturedPacket, type CaptureParser, type PacketCallback, RecordFramer } from './capturedPacket.ts';
import { MAX_RECORD_LENGTH } from './classicPcap.ts';

/**
 * pcapng, draft-ietf-opsawg-pcapng: blocks of type, total length, body, total length (§3.1).
 * Section Header (§4.1) sets the byte order; Interface Description (§4.2) gives each interface's
 * link type and timestamp resolution (if_tsresol, §4.2 option 9); packets come in Enhanced (§4.3),
 * Simple (§4.4) and obsolete Packet blocks (Appendix A). Decryption Secrets Blocks (§4.7) go to
 * `onSecrets`, in capture order. Other blocks are skipped.
 */
export const BLOCK = {
  sectionHeader: 0x0a0d0d0a,
  interfaceDescription: 0x00000001,
  packet: 0x00000002,
  simplePacket: 0x00000003,
  enhancedPacket: 0x00000006,
  decryptionSecrets: 0x0000000a,
} as const;
/** Decryption Secrets Block's secrets type for TLS key logs, 'TLSK' (§4.7). */
export const SECRETS_TLS_KEY_LOG = 0x544c534b;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPTION_IF_TSRESOL = 9;
/** Blocks larger than this are corrupt lengths, not packets or metadata we would use. */
const MAX_BLOCK_LENGTH = MAX_RECORD_LENGTH + 64 * 1024;

interface InterfaceInfo {
  readonly linkType: number;
  readonly snapLength: number;
  /** Timestamp units per second. */
  readonly unitsPerSecond: number;
}

export class PcapngParser implements CaptureParser {
  readonly format = 'pcapng';
  private littleEndian = true;
  private sectionSeen = false;
  private interfaces: InterfaceInfo[] = [];
  private onPacket: PacketCallback = () => undefined;
  /** A Decryption Secrets Block's type and data (§4.7), e.g. a TLS key log (SECRETS_TLS_KEY_LOG). */
  onSecrets?: (secretsType: number, data: Buffer, fileOffset: number) => void;
  private readonly packet = new CapturedPacket();
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
    if (!this.sectionSeen)
      throw new CaptureFormatError(`${this.source}: pcapng file cut short before its section header`);
    return { truncatedTailBytes: this.framer.pendingBytes };
  }

  /** Total length of the block starting `buffer` (12 while even its header is incomplete). */
  private needed(buffer: Buffer): number {
    if (buffer.length < 12) return 12;
    let littleEndian = this.littleEndian;
    if (buffer.readUInt32LE(0) === BLOCK.sectionHeader)
      littleEndian = buffer.readUInt32LE(8) === BYTE_ORDER_MAGIC;
    const length = littleEndian ? buffer.readUInt32LE(4) : buffer.readUInt32BE(4);
    return Math.max(12, Math.min(length, MAX_BLOCK_LENGTH + 4));
  }

  private parse(buffer: Buffer, fileOffsetBase: number): number {
    const onPacket = this.onPacket;
    let offset = 0;
    while (buffer.length - offset >= 12) {
      const fileOffset = fileOffsetBase + offset;
      if (buffer.readUInt32LE(offset) === BLOCK.sectionHeader) {
        // The byte order of a section is given by its own header's magic (§4.1).
        const magic = buffer.readUInt32LE(offset + 8);
        if (magic === BYTE_ORDER_MAGIC) this.littleEndian = true;
        else if (magic === 0x4d3c2b1a) this.littleEndian = false;
        else {
          throw new CaptureFormatError(
            `${this.source}: corrupt pcapng section header at byte ${fileOffset}: byte-order magic 0x${magic.toString(16)} is neither 1a2b3c4d nor 4d3c2b1a`,
          );
        }
        this.sectionSeen = true;
        this.interfaces = [];
      } else if (!this.sectionSeen) {
        throw new CaptureFormatError(
          `${this.source}: not a pcapng file: no section header block at offset 0`,
        );
      }
      const type = this.littleEndian ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset);
      const length = this.littleEndian ? buffer.readUInt32LE(offset + 4) : buffer.readUInt32BE(offset + 4);
      if (length < 12 || length % 4 !== 0 || length > MAX_BLOCK_LENGTH) {
        throw new CaptureFormatError(
          `${this.source}: corrupt pcapng block at byte ${fileOffset}: block type 0x${type.toString(16)} has total length ${length} (must be a multiple of 4 from 12 to ${MAX_BLOCK_LENGTH})`,
        );
      }
      if (buffer.length - offset < length) break;
      const trailer = this.littleEndian
        ? buffer.readUInt32LE(offset + length - 4)
        : buffer.readUInt32BE(offset + length - 4);
      if (trailer !== length) {
        throw new CaptureFormatError(
          `${this.source}: corrupt pcapng block at byte ${fileOffset}: leading length ${length} and trailing length ${trailer} differ`,
        );
      }
      this.block(type, buffer.subarray(offset + 8, offset + length - 4), fileOffset, onPacket);
      offset += length;
    }
    return offset;
  }

  private block(type: number, body: Buffer, fileOffset: number, onPacket: PacketCallback): void {
    const u16 = (at: number) => (this.littleEndian ? body.readUInt16LE(at) : body.readUInt16BE(at));
    const u32 = (at: number) => (this.littleEndian ? body.readUInt32LE(at) : body.readUInt32BE(at));
    const corrupt = (what: string) =>
      new CaptureFormatError(`${this.source}: corrupt pcapng block at byte ${fileOffset}: ${what}`);
    switch (type) {
      case BLOCK.interfaceDescription: {
        if (body.length < 8) throw corrupt('interface description shorter than 8 bytes');
        this.interfaces.push({
          linkType: u16(0),
          snapLength: u32(4),
          unitsPerSecond: this.timestampResolution(body.subarray(8)),
        });
        return;
      }
      case BLOCK.decryptionSecrets: {
        // §4.7: secrets type, secrets length, the secrets (padded to 32 bits), options.
        if (body.length < 8) throw corrupt('decryption secrets block shorter than 8 bytes');
        const length = u32(4);
        if (length > body.length - 8)
          throw corrupt(
            `decryption secrets block says ${length} bytes of secrets but holds ${body.length - 8}`,
          );
        this.onSecrets?.(u32(0), body.subarray(8, 8 + length), fileOffset);
        return;
      }
      case BLOCK.enhancedPacket:
      case BLOCK.packet: {
        if (body.length < 20) throw corrupt('packet block shorter than 20 bytes');
        const interfaceId = type === BLOCK.enhancedPacket ? u32(0) : u16(0);
        const iface = this.interfaces[interfaceId];
        if (!iface)
          throw corrupt(
            `packet names interface ${interfaceId}, but only ${this.interfaces.length} are described`,
          );
        const capturedLength = u32(12);
        if (20 + capturedLength > body.length)
          throw corrupt(`captured length ${capturedLength} runs past the block`);
        this.emit(
          onPacket,
          toMicros(u32(4), u32(8), iface.unitsPerSecond),
          capturedLength,
          u32(16),
          body,
          20,
          iface.linkType,
          fileOffset,
        );
        return;
      }
      case BLOCK.simplePacket: {
        const iface = this.interfaces[0];
        if (!iface) throw corrupt('simple packet block before any interface description');
        if (body.length < 4) throw corrupt('simple packet block shorter than 4 bytes');
        const originalLength = u32(0);
        // §4.4: captured length is the smaller of the original length and the interface's snap length.
        const capturedLength = Math.min(originalLength, iface.snapLength || originalLength, body.length - 4);
        this.emit(onPacket, 0, capturedLength, originalLength, body, 4, iface.linkType, fileOffset);
        return;
      }
      default:
        return; // name resolution, statistics, custom and unknown blocks carry no packets
    }
  }

  private emit(
    onPacket: PacketCallback,
    timestampMicros: number,
    capturedLength: number,
    originalLength: number,
    body: Buffer,
    offset: number,
    linkType: number,
    fileOffset: number,
  ): void {
    const packet = this.packet;
    packet.timestampMicros = timestampMicros;
    packet.capturedLength = capturedLength;
    packet.originalLength = originalLength;
    packet.buffer = body;
    packet.offset = offset;
    packet.linkType = linkType;
    packet.fileOffset = fileOffset;
    onPacket(packet);
  }

  /** if_tsresol: MSB clear means 10^-n seconds, set means 2^-n; the default is microseconds. */
  private timestampResolution(options: Buffer): number {
    const u16 = (at: number) => (this.littleEndian ? options.readUInt16LE(at) : options.readUInt16BE(at));
    let offset = 0;
    while (offset + 4 <= options.length) {
      const code = u16(offset);
      const length = u16(offset + 2);
      if (code === 0) break;
      if (code === OPTION_IF_TSRESOL && length >= 1 && offset + 4 < options.length) {
        const value = options[offset + 4]!;
        const exponent = value & 0x7f;
        return value & 0x80 ? 2 ** exponent : 10 ** exponent;
      }
      offset += 4 + length + ((4 - (length % 4)) % 4);
    }
    return 1_000_000;
  }
}

/** 64-bit timestamp in interface units → microseconds; exact for the default resolution, BigInt otherwise. */
function toMicros(high: number, low: number, unitsPerSecond: number): number {
  if (unitsPerSecond === 1_000_000) return high * 4294967296 + low;
  const units = (BigInt(high) << 32n) | BigInt(low);
  return Number((units * 1_000_000n) / BigInt(Math.round(unitsPerSecond)));
}
