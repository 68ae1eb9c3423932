import type { PacketView } from './decode/packetView.ts';

/** What the index needs of a flow: its protocol and its two endpoints in raw form. */
export interface IndexedFlow {
  readonly protocolNumber: number;
  /** IPv4 address as a number, or IPv6 address as a 16-character latin1 string. */
  readonly clientAddress: number | string;
  readonly clientPort: number;
  readonly serverAddress: number | string;
  readonly serverPort: number;
}

function hashAddress(address: number | string): number {
  if (typeof address === 'number') return address;
  let h = 0;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
  return h;
}

/** Mixes one endpoint; XOR of both endpoints makes the hash the same in both directions. */
function endpointHash(address: number | string, port: number): number {
  return Math.imul(hashAddress(address) ^ Math.imul(port + 1, 0x9e3779b1), 0x85ebca6b);
}

/** Whether `flow` is the flow of the packet in `view`'s direction (1), the other (-1), or not (0). */
function matches(
  flow: IndexedFlow,
  protocol: number,
  src: number | string,
  sp: number,
  dst: number | string,
  dp: number,
): number {
  if (flow.protocolNumber !== protocol) return 0;
  if (
    flow.clientPort === sp &&
    flow.serverPort === dp &&
    flow.clientAddress === src &&
    flow.serverAddress === dst
  )
    return 1;
  if (
    flow.clientPort === dp &&
    flow.serverPort === sp &&
    flow.clientAddress === dst &&
    flow.serverAddress === src
  )
    return -1;
  return 0;
}

/** The direction-independent hash of a 5-tuple (the same from either end). */
export function tupleHash(
  protocol: number,
  a: number | string,
  ap: number,
  b: number | string,
  bp: number,
): number {
  return (endpointHash(a, ap) ^ endpointHash(b, bp) ^ protocol) | 0;
}

/**
 * Flows by 5-tuple, found from either direction without building a string key per packet: a
 * direction-independent 32-bit hash selects a bucket (the flow itself, or an array of the few
 * flows sharing the hash), compared field by field.
 */
export class FlowIndex<F extends IndexedFlow> {
  private readonly buckets: Buckets<F> = new Map();
  /** Set by `find`: whether the packet goes client → server (a field, so `find` allocates nothing). */
  toServer = true;

  /** The flow this packet belongs to (its direction is left in `toServer`). */
  find(view: PacketView): F | undefined {
    const v4 = view.ipVersion === 4;
    const src = v4 ? view.srcV4 : view.srcV6;
    const dst = v4 ? view.dstV4 : view.dstV6;
    const { protocol, srcPort, dstPort } = view;
    const bucket = this.buckets.get(tupleHash(protocol, src, srcPort, dst, dstPort));
    if (bucket === undefined) return undefined;
    if (!Array.isArray(bucket)) {
      const found = matches(bucket, protocol, src, srcPort, dst, dstPort);
      if (found === 0) return undefined;
      this.toServer = found === 1;
      return bucket;
    }
    for (const flow of bucket) {
      const found = matches(flow, protocol, src, srcPort, dst, dstPort);
      if (found === 0) continue;
      this.toServer = found === 1;
      return flow;
    }
    return undefined;
  }

  private static hashOfFlow(flow: IndexedFlow): number {
    return tupleHash(
      flow.protocolNumber,
      flow.clientAddress,
      flow.clientPort,
      flow.serverAddress,
      flow.serverPort,
    );
  }

  insert(flow: F): void {
    addToBucket(this.buckets, FlowIndex.hashOfFlow(flow), flow);
  }

  delete(flow: F): void {
    removeFromBucket(this.buckets, FlowIndex.hashOfFlow(flow), flow);
  }
}

/** Hash buckets holding one item as itself, and only several as an array (items are never arrays). */
export type Buckets<T> = Map<number, T | T[]>;

export function addToBucket<T>(buckets: Buckets<T>, hash: number, item: T): void {
  const bucket = buckets.get(hash);
  if (bucket === undefined) buckets.set(hash, item);
  else if (Array.isArray(bucket)) bucket.push(item);
  else buckets.set(hash, [bucket, item]);
}

export function removeFromBucket<T>(buckets: Buckets<T>, hash: number, item: T): void {
  const bucket = buckets.get(hash);
  if (bucket === undefined) return;
  if (!Array.isArray(bucket)) {
    if (bucket === item) buckets.delete(hash);
    return;
  }
  const i = bucket.indexOf(item);
  if (i >= 0) bucket.splice(i, 1);
  if (bucket.length === 1) buckets.set(hash, bucket[0]!);
  else if (bucket.length === 0) buckets.delete(hash);
}
