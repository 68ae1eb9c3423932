/**
 * One direction of a TCP connection, reassembled (RFC 9293 §3.4, §3.10.7.4): segments are kept
 * by sequence number, out-of-order segments wait for the bytes before them, retransmitted and
 * overlapping bytes are used once (the first copy wins, as most stacks keep it), and a hole that is
 * never filled is a gap: the bytes after it are kept as a new run and the gap is counted.
 * At most `limit` bytes are kept; the rest is counted as dropped.
 */
/**
 * What a kept segment costs beyond its bytes (its object and Buffer view): charged against the
 * limit, so a stream of one-byte segments is bounded in memory, not only in payload (issue 20: a
 * capture of one-byte segments took memory as 100 times its payload).
 */
export const SEGMENT_OVERHEAD_BYTES = 96;

interface Segment {
  readonly offset: number;
  /** The segment's bytes are `data[0..used)`; a run of in-order segments grows one buffer. */
  data: Buffer;
  used: number;
}

export class TcpStream {
  private base: number | undefined;
  private readonly segments: Segment[] = [];
  /** The first segment at offset 0 (the stream's start), once it has come. */
  private start: Segment | undefined;
  private buffered = 0;
  droppedBytes = 0;

  constructor(private limit: number) {}

  /** Lowers (or raises) how many bytes this stream keeps from now on. */
  setLimit(limit: number): void {
    this.limit = limit;
  }

  /** The bytes at the very start of the stream, when the first segment has arrived; else null. */
  head(): Buffer | null {
    return this.start ? this.start.data.subarray(0, this.start.used) : null;
  }

  /** Marks the initial sequence number (from SYN): data starts at isn + 1. */
  setInitialSequence(isn: number): void {
    if (this.base === undefined) this.base = (isn + 1) >>> 0;
  }

  /** Adds the bytes `source[start..end)` sent with sequence number `sequence` (copied). */
  add(sequence: number, source: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length <= 0) return;
    if (this.base === undefined) this.base = sequence;
    // Signed 32-bit distance from the base handles wrap-around.
    const offset = (sequence - this.base) | 0;
    const last = this.segments.at(-1);
    // In order after the last segment (the common case): its buffer grows, no new segment.
    const extending = last !== undefined && offset === last.offset + last.used;
    const room = this.limit - this.buffered - (extending ? 0 : SEGMENT_OVERHEAD_BYTES);
    const kept = Math.max(0, Math.min(length, room));
    this.droppedBytes += length - kept;
    if (kept === 0) return;
    // Copy: the packet's bytes belong to the capture reader's buffer.
    if (extending) {
      if (last.used + kept > last.data.length) {
        const grown = Buffer.allocUnsafe(Math.max(last.used + kept, last.data.length * 2));
        last.data.copy(grown, 0, 0, last.used);
        last.data = grown;
      }
      source.copy(last.data, last.used, start, start + kept);
      last.used += kept;
      this.buffered += kept;
      return;
    }
    const data = Buffer.allocUnsafe(kept);
    source.copy(data, 0, start, start + kept);
    const segment = { offset, data, used: kept };
    this.segments.push(segment);
    if (offset === 0 && !this.start) this.start = segment;
    this.buffered += kept + SEGMENT_OVERHEAD_BYTES;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The stream's runs in order: `runs[0]` is the contiguous start; later runs follow gaps. */
  assemble(): { runs: Buffer[]; gaps: number; gapBytes: number } {
    const segments = this.segments.map((s) => ({ offset: s.offset, data: s.data.subarray(0, s.used) }));
    if (segments.length === 0) return { runs: [], gaps: 0, gapBytes: 0 };
    // Fast path: one segment, or segments already in order and contiguous (the common case).
    let contiguous = segments[0]!.offset === 0;
    for (let i = 1; contiguous && i < segments.length; i++) {
      contiguous = segments[i]!.offset === segments[i - 1]!.offset + segments[i - 1]!.data.length;
    }
    if (contiguous) {
      return {
        runs: [segments.length === 1 ? segments[0]!.data : Buffer.concat(segments.map((s) => s.data))],
        gaps: 0,
        gapBytes: 0,
      };
    }
    const ordered = [...segments].sort((a, b) => a.offset - b.offset);
    const runs: Buffer[] = [];
    let current: Buffer[] = [];
    let next = Math.min(0, ordered[0]!.offset);
    let gaps = 0;
    let gapBytes = 0;
    for (const { offset, data } of ordered) {
      if (offset > next) {
        if (current.length) runs.push(Buffer.concat(current));
        current = [];
        gaps++;
        gapBytes += offset - next;
        next = offset;
      }
      const end = offset + data.length;
      if (end <= next) continue;
      current.push(data.subarray(next - offset));
      next = end;
    }
    if (current.length) runs.push(Buffer.concat(current));
    return { runs, gaps, gapBytes };
  }
}
