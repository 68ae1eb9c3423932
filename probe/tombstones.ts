import type { PacketView } from './decode/packetView.ts';
import { addToBucket, type Buckets, type IndexedFlow, removeFromBucket, tupleHash } from './flowIndex.ts';

/**
 * Flows reported early (before their linger ended), kept only as their 5-tuple and close time so
 * their late packets are absorbed instead of opening phantom flows. They close in order and all
 * linger as long, so they live in a ring, oldest first, in typed arrays: about 70 bytes each with
 * the hash index, where an object per tombstone took about 200 (a short-flow capture keeps the
 * whole `capacity` of them).
 */
export class Tombstones {
  private readonly closedAt: Float64Array;
  private readonly protocol: Uint8Array;
  private readonly clientPort: Uint16Array;
  private readonly serverPort: Uint16Array;
  /** IPv4 addresses; NaN for IPv6, whose 16-byte strings are in `v6`. */
  private readonly clientV4: Float64Array;
  private readonly serverV4: Float64Array;
  private readonly v6 = new Map<number, [client: string, server: string]>();
  private readonly hashes: Int32Array;
  /** Hash → slot, or the slots sharing the hash. */
  private readonly index: Buckets<number> = new Map();
  private head = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.closedAt = new Float64Array(capacity);
    this.protocol = new Uint8Array(capacity);
    this.clientPort = new Uint16Array(capacity);
    this.serverPort = new Uint16Array(capacity);
    this.clientV4 = new Float64Array(capacity);
    this.serverV4 = new Float64Array(capacity);
    this.hashes = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a tombstone; the oldest goes when the ring is full. */
  add(flow: IndexedFlow, closedAtMicros: number): void {
    if (this.capacity === 0) return;
    if (this.count === this.capacity) this.dropOldest();
    const slot = (this.head + this.count++) % this.capacity;
    this.closedAt[slot] = closedAtMicros;
    this.protocol[slot] = flow.protocolNumber;
    this.clientPort[slot] = flow.clientPort;
    this.serverPort[slot] = flow.serverPort;
    if (typeof flow.clientAddress === 'number' && typeof flow.serverAddress === 'number') {
      this.clientV4[slot] = flow.clientAddress;
      this.serverV4[slot] = flow.serverAddress;
    } else {
      this.clientV4[slot] = Number.NaN;
      this.serverV4[slot] = Number.NaN;
      this.v6.set(slot, [String(flow.clientAddress), String(flow.serverAddress)]);
    }
    const hash = tupleHash(
      flow.protocolNumber,
      flow.clientAddress,
      flow.clientPort,
      flow.serverAddress,
      flow.serverPort,
    );
    this.hashes[slot] = hash;
    addToBucket(this.index, hash, slot);
  }

  /** The tombstone of the packet's 5-tuple (either direction): its slot, or -1. */
  find(view: PacketView): number {
    const v4 = view.ipVersion === 4;
    const src = v4 ? view.srcV4 : view.srcV6;
    const dst = v4 ? view.dstV4 : view.dstV6;
    const bucket = this.index.get(tupleHash(view.protocol, src, view.srcPort, dst, view.dstPort));
    if (bucket === undefined) return -1;
    if (!Array.isArray(bucket)) return this.matches(bucket, view) ? bucket : -1;
    for (const slot of bucket) if (this.matches(slot, view)) return slot;
    return -1;
  }

  private matches(slot: number, view: PacketView): boolean {
    if (this.protocol[slot] !== view.protocol) return false;
    const cp = this.clientPort[slot];
    const sp = this.serverPort[slot];
    if (view.ipVersion === 4) {
      const c = this.clientV4[slot];
      const s = this.serverV4[slot];
      return (
        (cp === view.srcPort && sp === view.dstPort && c === view.srcV4 && s === view.dstV4) ||
        (cp === view.dstPort && sp === view.srcPort && c === view.dstV4 && s === view.srcV4)
      );
    }
    const pair = this.v6.get(slot);
    if (!pair) return false;
    return (
      (cp === view.srcPort && sp === view.dstPort && pair[0] === view.srcV6 && pair[1] === view.dstV6) ||
      (cp === view.dstPort && sp === view.srcPort && pair[0] === view.dstV6 && pair[1] === view.srcV6)
    );
  }

  /** Forgets one tombstone (its 5-tuple opened a new connection); its slot stays until it expires. */
  delete(slot: number): void {
    this.unindex(slot);
    this.protocol[slot] = 0;
  }

  /** Drops tombstones closed more than `lingerMicros` before `nowMicros`, oldest first. */
  expire(nowMicros: number, lingerMicros: number): void {
    while (this.count > 0 && nowMicros - this.closedAt[this.head]! > lingerMicros) this.dropOldest();
  }

  private dropOldest(): void {
    const slot = this.head;
    if (this.protocol[slot] !== 0) this.unindex(slot);
    this.protocol[slot] = 0;
    this.v6.delete(slot);
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }

  private unindex(slot: number): void {
    removeFromBucket(this.index, this.hashes[slot]!, slot);
  }
}
