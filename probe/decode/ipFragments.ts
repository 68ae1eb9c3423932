/**
 * IP fragment reassembly for IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5), bounded: at most
 * MAX_PENDING datagrams in progress, each dropped after TIMEOUT_MICROS of capture time, and no
 * datagram larger than 65,535 bytes of payload. Overlaps keep the first bytes received.
 */
const MAX_PENDING = 1024;
const TIMEOUT_MICROS = 30 * 1_000_000;
const MAX_DATAGRAM = 65_535;

interface Pending {
  readonly parts: { offset: number; data: Buffer }[];
  /** Payload length, known once the last fragment (More Fragments clear) arrived. */
  total: number;
  firstMicros: number;
  /** Bytes of all fragments at the IP layer, counted into the reassembled packet. */
  ipBytes: number;
  fragments: number;
}

export interface ReassembledPayload {
  readonly payload: Buffer;
  readonly ipBytes: number;
  readonly fragments: number;
}

export class IpFragmentReassembler {
  private readonly pending = new Map<string, Pending>();
  /** Datagrams dropped because of the limits (counted for the run summary). */
  dropped = 0;

  /**
   * Adds one fragment; returns the whole payload when this fragment completes it, null while
   * parts are missing, and 'limit' when the fragment breaks a bound.
   */
  add(
    key: string,
    offset: number,
    moreFragments: boolean,
    data: Buffer,
    ipBytes: number,
    nowMicros: number,
  ): ReassembledPayload | null | 'limit' {
    if (offset + data.length > MAX_DATAGRAM) return 'limit';
    let entry = this.pending.get(key);
    if (!entry) {
      if (this.pending.size >= MAX_PENDING) this.expire(nowMicros, true);
      entry = { parts: [], total: -1, firstMicros: nowMicros, ipBytes: 0, fragments: 0 };
      this.pending.set(key, entry);
    }
    entry.parts.push({ offset, data: Buffer.from(data) });
    entry.ipBytes += ipBytes;
    entry.fragments++;
    if (!moreFragments) entry.total = offset + data.length;
    if (entry.total < 0) return null;
    const payload = Buffer.alloc(entry.total);
    const parts = [...entry.parts].sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const part of parts) {
      if (part.offset > covered) return null;
      const end = Math.min(entry.total, part.offset + part.data.length);
      if (end > covered) {
        part.data.copy(payload, covered, covered - part.offset, end - part.offset);
        covered = end;
      }
    }
    if (covered < entry.total) return null;
    this.pending.delete(key);
    return { payload, ipBytes: entry.ipBytes, fragments: entry.fragments };
  }

  /** Drops datagrams older than the timeout (or the oldest one, when `force` and at the limit). */
  expire(nowMicros: number, force = false): void {
    for (const [key, entry] of this.pending) {
      if (nowMicros - entry.firstMicros > TIMEOUT_MICROS) {
        this.pending.delete(key);
        this.dropped++;
      }
    }
    if (force && this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) {
        this.pending.delete(oldest);
        this.dropped++;
      }
    }
  }
}
