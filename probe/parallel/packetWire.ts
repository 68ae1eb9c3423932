import { PacketView } from '../decode/packetView.ts';

/**
 * Decoded packets on their way from the probe's reading thread to a flow-table worker: the fields
 * `FlowTable.add` reads from a `PacketView`, and the transport payload, little-endian, one entry
 * after another in one buffer per worker and chunk of the capture (transferred, not copied).
 * Sweep entries say where the single-threaded table would have swept idle flows.
 *
 *   packet: u8 1, u32 index, f64 timestamp µs, u8 ipVersion, u8 protocol, u8 tcpFlags, u8 hasApp,
 *           u16 srcPort, u16 dstPort, u32 tcpSequence, u32 ipBytes, u32 payloadLength,
 *           addresses (v4: u32 src, u32 dst; v6: 16 + 16 bytes),
 *           [hasApp: i32 uid, u16 nameBytes, name], payload
 *   sweep:  u8 2, u32 index, f64 now µs
 */
export const ENTRY = { packet: 1, sweep: 2 } as const;

/**
 * Buffers handed to another thread (transferred) and handed back, kept for reuse so a run makes
 * no garbage per chunk: at most two wait, a third is left to the collector.
 */
export class SpareBuffers {
  private readonly spare: Buffer[] = [];

  /** A spare buffer, or a new one of `bytes`. */
  take(bytes: number): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(bytes);
  }

  /** A view of a whole buffer this thread gave out, back (any other view is not kept). */
  give(view: Uint8Array): void {
    if (view.byteOffset === 0 && this.spare.length < 2)
      this.spare.push(Buffer.from(view.buffer as ArrayBuffer, 0, view.buffer.byteLength));
  }
}

/** A growable buffer of wire entries. */
export class WireWriter {
  private buffer: Buffer = Buffer.allocUnsafeSlow(256 * 1024);
  /** Buffers the worker returned, reused so a run does not make garbage per chunk. */
  private readonly spare = new SpareBuffers();
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  packet(view: PacketView, index: number): void {
    const payload = view.payloadEnd - view.payloadOffset;
    const v6 = view.ipVersion === 6;
    const hasApp = view.appUid >= 0;
    const name = hasApp ? Buffer.from(view.appName, 'utf8') : undefined;
    this.reserve(36 + (v6 ? 32 : 8) + (name ? 6 + name.length : 0) + payload);
    const b = this.buffer;
    let at = this.length;
    b[at] = ENTRY.packet;
    b.writeUInt32LE(index >>> 0, at + 1);
    b.writeDoubleLE(view.timestampMicros, at + 5);
    b[at + 13] = view.ipVersion;
    b[at + 14] = view.protocol;
    b[at + 15] = view.tcpFlags;
    b[at + 16] = hasApp ? 1 : 0;
    b.writeUInt16LE(view.srcPort, at + 17);
    b.writeUInt16LE(view.dstPort, at + 19);
    b.writeUInt32LE(view.tcpSequence >>> 0, at + 21);
    b.writeUInt32LE(view.ipBytes, at + 25);
    b.writeUInt32LE(payload, at + 29);
    at += 33;
    if (v6) {
      b.write(view.srcV6, at, 16, 'latin1');
      b.write(view.dstV6, at + 16, 16, 'latin1');
      at += 32;
    } else {
      b.writeUInt32LE(view.srcV4 >>> 0, at);
      b.writeUInt32LE(view.dstV4 >>> 0, at + 4);
      at += 8;
    }
    if (name) {
      b.writeInt32LE(view.appUid, at);
      b.writeUInt16LE(name.length, at + 4);
      name.copy(b, at + 6);
      at += 6 + name.length;
    }
    view.data.copy(b, at, view.payloadOffset, view.payloadEnd);
    this.length = at + payload;
  }

  sweep(index: number, nowMicros: number): void {
    this.reserve(13);
    const b = this.buffer;
    b[this.length] = ENTRY.sweep;
    b.writeUInt32LE(index >>> 0, this.length + 1);
    b.writeDoubleLE(nowMicros, this.length + 5);
    this.length += 13;
  }

  /**
   * The entries written so far, as a view of the writer's own buffer (to transfer; `recycle` it
   * when the worker hands it back); the writer goes on in a spare buffer.
   */
  take(): Uint8Array {
    const out = new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.length);
    this.buffer = this.spare.take(this.buffer.length);
    this.length = 0;
    return out;
  }

  /** A buffer `take` gave out, back from the worker. */
  recycle(bytes: Uint8Array): void {
    this.spare.give(bytes);
  }
}

/** Reads wire entries back into one reused `PacketView`. */
export class WireReader {
  readonly view = new PacketView();
  private at = 0;
  /** The last entry's packet index, and for a sweep entry its time. */
  index = 0;
  sweepMicros = 0;
  private readonly b: Buffer;

  constructor(bytes: Uint8Array) {
    this.b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The next entry's kind (the view or `sweepMicros` filled), or 0 at the end. */
  next(): number {
    const b = this.b;
    let at = this.at;
    if (at >= b.length) return 0;
    const kind = b[at]!;
    this.index = b.readUInt32LE(at + 1);
    if (kind === ENTRY.sweep) {
      this.sweepMicros = b.readDoubleLE(at + 5);
      this.at = at + 13;
      return kind;
    }
    const view = this.view;
    view.timestampMicros = b.readDoubleLE(at + 5);
    view.ipVersion = b[at + 13] === 6 ? 6 : 4;
    view.protocol = b[at + 14]!;
    view.tcpFlags = b[at + 15]!;
    const hasApp = b[at + 16] === 1;
    view.srcPort = b.readUInt16LE(at + 17);
    view.dstPort = b.readUInt16LE(at + 19);
    view.tcpSequence = b.readUInt32LE(at + 21);
    view.ipBytes = b.readUInt32LE(at + 25);
    const payload = b.readUInt32LE(at + 29);
    at += 33;
    if (view.ipVersion === 6) {
      view.srcV6 = b.toString('latin1', at, at + 16);
      view.dstV6 = b.toString('latin1', at + 16, at + 32);
      at += 32;
    } else {
      view.srcV4 = b.readUInt32LE(at);
      view.dstV4 = b.readUInt32LE(at + 4);
      at += 8;
    }
    if (hasApp) {
      view.appUid = b.readInt32LE(at);
      const nameBytes = b.readUInt16LE(at + 4);
      view.appName = b.toString('utf8', at + 6, at + 6 + nameBytes);
      at += 6 + nameBytes;
    } else view.appUid = -1;
    view.data = b;
    view.payloadOffset = at;
    view.payloadEnd = at + payload;
    view.frameEnd = at + payload;
    this.at = at + payload;
    return kind;
  }
}
