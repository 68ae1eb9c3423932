/**
 * IP fragment reassembly for IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5), bounded: at most
 * MAX_PENDING datagrams in progress, each dropped after TIMEOUT_MICROS of capture time, and no
 * datagram larger than 65,535 bytes of payload. Overlaps keep the first bytes received.
 */
const MAX_PENDING = 1024;
const TIMEOUT_MICROS = 30 * 1_000_000;
const MAX_DATAGRAM = 65_535;

interface Pending {
  /** The payload so far, grown as fragments reach further (at most MAX_DATAGRAM bytes). */
  payload: Buffer;
  /** One bit per payload byte already received: overlapping bytes keep their first copy. */
  readonly received: Uint8Array;
  /** Payload length, known once the last fragment (More Fragments clear) arrived. */
  total: number;
  /** Bytes received below `total` (all bytes received while it is unknown). */
  receivedBelowTotal: number;
  firstMicros: number;
  /** Bytes of all fragments at the IP layer, counted into the reassembled packet. */
  ipBytes: number;
  fragments: number;
}

/** Fragments of one datagram at most: 65,535 bytes in 8-byte units (more are overlapping copies). */
const MAX_FRAGMENTS = 8192;

export interface ReassembledPayload {
  readonly payload: Buffer;
  readonly ipBytes: number;
  readonly fragments: number;
}

/**
 * Fragments are written into the datagram's buffer as they come, each byte once (a bitmap marks
 * what was received), so the work is linear in the bytes received: 40,001 overlapping fragments
 * once took 79 s when every fragment re-sorted and re-copied all the earlier ones (issue 20).
 */
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
      entry = {
        payload: Buffer.alloc(Math.max(1500, offset + data.length)),
        received: new Uint8Array(Math.ceil(MAX_DATAGRAM / 8)),
        total: -1,
        receivedBelowTotal: 0,
        firstMicros: nowMicros,
        ipBytes: 0,
        fragments: 0,
      };
      this.pending.set(key, entry);
    }
    if (++entry.fragments > MAX_FRAGMENTS) {
      this.pending.delete(key);
      this.dropped++;
      return 'limit';
    }
    entry.ipBytes += ipBytes;
    const end = offset + data.length;
    if (end > entry.payload.length) {
      const grown = Buffer.alloc(Math.min(MAX_DATAGRAM, Math.max(end, 2 * entry.payload.length)));
      entry.payload.copy(grown);
      entry.payload = grown;
    }
    const { payload, received } = entry;
    const limit = entry.total >= 0 ? entry.total : MAX_DATAGRAM;
    for (let i = offset; i < end; i++) {
      const bit = 1 << (i & 7);
      if (received[i >> 3]! & bit) continue;
      received[i >> 3]! |= bit;
      payload[i] = data[i - offset]!;
      if (i < limit) entry.receivedBelowTotal++;
    }
    if (!moreFragments && entry.total < 0) {
      entry.total = end;
      // Bytes received beyond the end of the datagram do not count towards it.
      let below = 0;
      for (let i = 0; i < end; i++) if (received[i >> 3]! & (1 << (i & 7))) below++;
      entry.receivedBelowTotal = below;
    }
    if (entry.total < 0 || entry.receivedBelowTotal < entry.total) return null;
    this.pending.delete(key);
    return {
      payload: Buffer.from(payload.subarray(0, entry.total)),
      ipBytes: entry.ipBytes,
      fragments: entry.fragments,
    };
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
