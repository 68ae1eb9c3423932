/**
 * One direction of a TCP connection, reassembled (RFC 9293 §3.4, §3.10.7.4): segments are kept
 * by sequence number, out-of-order segments wait for the bytes before them, retransmitted and
 * overlapping bytes are used once (the first copy wins, as most stacks keep it), and a hole that is
 * never filled is a gap: the bytes after it are kept as a new run and the gap is counted.
 * At most `limit` bytes are kept; the rest is counted as dropped.
 */
export class TcpStream {
  private base: number | undefined;
  private readonly segments: { offset: number; data: Buffer }[] = [];
  private buffered = 0;
  droppedBytes = 0;

  constructor(private readonly limit: number) {}

  /** Marks the initial sequence number (from SYN): data starts at isn + 1. */
  setInitialSequence(isn: number): void {
    if (this.base === undefined) this.base = (isn + 1) >>> 0;
  }

  add(sequence: number, data: Buffer): void {
    if (data.length === 0) return;
    if (this.base === undefined) this.base = sequence;
    if (this.buffered >= this.limit) {
      this.droppedBytes += data.length;
      return;
    }
    // Signed 32-bit distance from the base handles wrap-around.
    const offset = (sequence - this.base) | 0;
    const kept =
      data.length <= this.limit - this.buffered ? data : data.subarray(0, this.limit - this.buffered);
    this.droppedBytes += data.length - kept.length;
    // Copy: the packet's bytes belong to the capture reader's buffer.
    this.segments.push({ offset, data: Buffer.from(kept) });
    this.buffered += kept.length;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The stream's runs in order: `runs[0]` is the contiguous start; later runs follow gaps. */
  assemble(): { runs: Buffer[]; gaps: number; gapBytes: number } {
    if (this.segments.length === 0) return { runs: [], gaps: 0, gapBytes: 0 };
    const ordered = [...this.segments].sort((a, b) => a.offset - b.offset);
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
