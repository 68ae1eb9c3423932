/**
 * One packet as a capture file stores it: bytes `buffer[offset, offset + capturedLength)`.
 * Parsers reuse one instance for every packet, so it is valid only during the callback that
 * receives it; whoever keeps bytes copies them.
 */
export class CapturedPacket {
  /** Capture time in microseconds since the Unix epoch. */
  timestampMicros = 0;
  capturedLength = 0;
  originalLength = 0;
  buffer: Buffer = Buffer.alloc(0);
  offset = 0;
  /** LINKTYPE_* of the packet's interface (https://www.tcpdump.org/linktypes.html). */
  linkType = 0;
  /** Byte offset of the packet's record or block in the (decompressed) file, for messages. */
  fileOffset = 0;

  /** The packet's bytes as a view (allocates; the probe's hot path uses buffer and offset). */
  get data(): Buffer {
    return this.buffer.subarray(this.offset, this.offset + this.capturedLength);
  }
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

/**
 * Feeds a record parser chunk by chunk without copying whole chunks: records inside a chunk are
 * parsed in place; only a record that straddles two chunks is copied, once, into its own buffer.
 * `parse(buffer, fileOffset)` parses whole records from the start of `buffer` and returns how many
 * bytes it consumed; `needed(buffer)` says how many bytes the record starting `buffer` has in all
 * (or the header size, when even the header is incomplete).
 */
export class RecordFramer {
  private tail: Buffer = Buffer.alloc(0);
  /** File offset of the first byte not yet consumed. */
  fileOffset = 0;

  constructor(
    private readonly parse: (buffer: Buffer, fileOffset: number) => number,
    private readonly needed: (buffer: Buffer) => number,
  ) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    // Complete a record left over from the previous chunk, copying only its own bytes.
    while (this.tail.length > 0 && rest.length > 0) {
      const want = this.needed(this.tail) - this.tail.length;
      if (want <= 0) break;
      const take = rest.subarray(0, want);
      this.tail = Buffer.concat([this.tail, take]);
      rest = rest.subarray(take.length);
      if (this.tail.length >= this.needed(this.tail)) {
        const consumed = this.parse(this.tail, this.fileOffset);
        this.fileOffset += consumed;
        this.tail = this.tail.subarray(consumed);
      }
    }
    if (this.tail.length > 0) {
      // Still incomplete, or the header said more than we have: keep accumulating.
      if (rest.length > 0) this.tail = Buffer.concat([this.tail, rest]);
      return;
    }
    const consumed = this.parse(rest, this.fileOffset);
    this.fileOffset += consumed;
    this.tail = Buffer.from(rest.subarray(consumed));
  }

  /** Bytes received but not parsed (an incomplete final record). */
  get pendingBytes(): number {
    return this.tail.length;
  }
}
