import { CaptureFormatError } from '../errors.ts';

/**
 * Streaming reader for the classic libpcap file format.
 * Spec: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html (File Header §4, Packet Record §5).
 */
const FILE_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
/** A record larger than this is not a packet but a corrupt length field. */
const MAX_RECORD_LENGTH = 256 * 1024;

const MAGIC = {
  microsecondsBigEndian: 0xa1b2c3d4,
  nanosecondsBigEndian: 0xa1b23c4d,
} as const;

export interface PcapHeader {
  readonly littleEndian: boolean;
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snapLength: number;
  /** LINKTYPE_* value (https://www.tcpdump.org/linktypes.html). */
  readonly linkType: number;
}

export interface CapturedPacket {
  /** Capture time in microseconds since the Unix epoch. */
  readonly timestampMicros: number;
  readonly capturedLength: number;
  readonly originalLength: number;
  readonly data: Buffer;
  /** Byte offset of the record header in the file, for messages that point at a packet. */
  readonly fileOffset: number;
}

export function parsePcapHeader(header: Buffer, source: string): PcapHeader {
  if (header.length < FILE_HEADER_LENGTH) {
    throw new CaptureFormatError(
      `${source}: not a pcap file: ${header.length} bytes, shorter than the 24-byte pcap file header`,
    );
  }
  const big = header.readUInt32BE(0);
  const little = header.readUInt32LE(0);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (big === MAGIC.microsecondsBigEndian || big === MAGIC.nanosecondsBigEndian) {
    littleEndian = false;
    nanosecond = big === MAGIC.nanosecondsBigEndian;
  } else if (little === MAGIC.microsecondsBigEndian || little === MAGIC.nanosecondsBigEndian) {
    littleEndian = true;
    nanosecond = little === MAGIC.nanosecondsBigEndian;
  } else if (big === 0x0a0d0d0a) {
    throw new CaptureFormatError(
      `${source}: this is a pcapng file; this probe reads classic pcap (convert with: editcap -F pcap in.pcapng out.pcap)`,
    );
  } else {
    throw new CaptureFormatError(
      `${source}: not a pcap file: magic number 0x${big.toString(16).padStart(8, '0')} at offset 0 is not a pcap magic (a1b2c3d4 or a1b23c4d, either byte order)`,
    );
  }
  const u16 = (offset: number) => (littleEndian ? header.readUInt16LE(offset) : header.readUInt16BE(offset));
  const u32 = (offset: number) => (littleEndian ? header.readUInt32LE(offset) : header.readUInt32BE(offset));
  return {
    littleEndian,
    nanosecond,
    versionMajor: u16(4),
    versionMinor: u16(6),
    snapLength: u32(16),
    linkType: u32(20) & 0x0fffffff, // upper bits carry FCS flags (draft §4, LinkType and additional information)
  };
}

export interface PcapReadResult {
  header: PcapHeader;
  packets: AsyncGenerator<CapturedPacket, PcapTrailer>;
}

/** What was left when the stream ended: a cut-off final record is reported, not thrown. */
export interface PcapTrailer {
  readonly truncatedTailBytes: number;
}

/**
 * Reads a classic pcap from a byte stream, holding at most one record beyond what is buffered.
 * File-level problems throw `CaptureFormatError`; a final record cut short (a capture that was
 * stopped mid-write) ends the stream and is reported in the trailer.
 */
export async function readClassicPcap(
  chunks: AsyncIterable<Buffer>,
  source: string,
): Promise<PcapReadResult> {
  const iterator = chunks[Symbol.asyncIterator]();
  let buffer: Buffer = Buffer.alloc(0);
  let consumed = 0;
  let done = false;
  const fill = async (need: number): Promise<boolean> => {
    while (buffer.length < need && !done) {
      const next = await iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      buffer = buffer.length === 0 ? next.value : Buffer.concat([buffer, next.value]);
    }
    return buffer.length >= need;
  };
  await fill(FILE_HEADER_LENGTH);
  const header = parsePcapHeader(buffer.subarray(0, FILE_HEADER_LENGTH), source);
  buffer = buffer.subarray(FILE_HEADER_LENGTH);
  consumed = FILE_HEADER_LENGTH;

  async function* packets(): AsyncGenerator<CapturedPacket, PcapTrailer> {
    const u32 = (b: Buffer, offset: number) =>
      header.littleEndian ? b.readUInt32LE(offset) : b.readUInt32BE(offset);
    while (true) {
      if (!(await fill(RECORD_HEADER_LENGTH))) {
        return { truncatedTailBytes: buffer.length };
      }
      const seconds = u32(buffer, 0);
      const fraction = u32(buffer, 4);
      const capturedLength = u32(buffer, 8);
      const originalLength = u32(buffer, 12);
      if (capturedLength > MAX_RECORD_LENGTH) {
        throw new CaptureFormatError(
          `${source}: corrupt packet record at byte ${consumed}: captured length ${capturedLength} exceeds ${MAX_RECORD_LENGTH} (file header snaplen ${header.snapLength})`,
        );
      }
      if (!(await fill(RECORD_HEADER_LENGTH + capturedLength))) {
        return { truncatedTailBytes: buffer.length };
      }
      const micros = header.nanosecond ? Math.floor(fraction / 1000) : fraction;
      const data = buffer.subarray(RECORD_HEADER_LENGTH, RECORD_HEADER_LENGTH + capturedLength);
      const fileOffset = consumed;
      buffer = buffer.subarray(RECORD_HEADER_LENGTH + capturedLength);
      consumed += RECORD_HEADER_LENGTH + capturedLength;
      yield {
        timestampMicros: seconds * 1_000_000 + micros,
        capturedLength,
        originalLength,
        data,
        fileOffset,
      };
    }
  }
  return { header, packets: packets() };
}
