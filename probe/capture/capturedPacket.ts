/** One packet as a capture file stores it. `data` is only valid during the callback that receives it. */
export interface CapturedPacket {
  /** Capture time in microseconds since the Unix epoch. */
  readonly timestampMicros: number;
  readonly capturedLength: number;
  readonly originalLength: number;
  readonly data: Buffer;
  /** LINKTYPE_* of the packet's interface (https://www.tcpdump.org/linktypes.html). */
  readonly linkType: number;
  /** Byte offset of the packet's record or block in the (decompressed) file, for messages. */
  readonly fileOffset: number;
}

export type PacketCallback = (packet: CapturedPacket) => void;

/** A synchronous parser fed with chunks of a capture file in order. */
export interface CaptureParser {
  readonly format: 'pcap' | 'pcapng';
  /** Parses every whole record in `chunk` plus what was left over, calling `onPacket` for each packet. */
  push(chunk: Buffer, onPacket: PacketCallback): void;
  /** Bytes of a final record cut short when the input ended (a capture stopped mid-write). */
  finish(): { truncatedTailBytes: number };
}

/** Keeps the unparsed tail between chunks; copies only when a record straddles two chunks. */
export class ChunkBuffer {
  private buffer: Buffer = Buffer.alloc(0);
  /** File offset of `buffer[0]`. */
  private base = 0;

  append(chunk: Buffer): Buffer {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return this.buffer;
  }

  /** Drops the first `consumed` bytes of the current buffer. */
  consume(consumed: number): void {
    this.base += consumed;
    this.buffer = this.buffer.subarray(consumed);
  }

  get fileOffset(): number {
    return this.base;
  }

  get length(): number {
    return this.buffer.length;
  }
}
