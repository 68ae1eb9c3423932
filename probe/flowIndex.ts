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

/**
 * Flows by 5-tuple, found from either direction without building a string key per packet: a
 * direction-independent 32-bit hash selects a bucket, compared field by field.
 */
export class FlowIndex<F extends IndexedFlow> {
  private readonly buckets = new Map<number, F[]>();
  /** Set by `find`: whether the packet goes client → server (a field, so `find` allocates nothing). */
  toServer = true;

  private static hashOf(
    protocol: number,
    a: number | string,
    ap: number,
    b: number | string,
    bp: number,
  ): number {
    return (endpointHash(a, ap) ^ endpointHash(b, bp) ^ protocol) | 0;
  }

  /** The flow this packet belongs to (its direction is left in `toServer`). */
  find(view: PacketView): F | undefined {
    const v4 = view.ipVersion === 4;
    const src = v4 ? view.srcV4 : view.srcV6;
    const dst = v4 ? view.dstV4 : view.dstV6;
    const bucket = this.buckets.get(FlowIndex.hashOf(view.protocol, src, view.srcPort, dst, view.dstPort));
    if (!bucket) return undefined;
    for (const flow of bucket) {
      if (flow.protocolNumber !== view.protocol) continue;
      if (
        flow.clientPort === view.srcPort &&
        flow.serverPort === view.dstPort &&
        flow.clientAddress === src &&
        flow.serverAddress === dst
      ) {
        this.toServer = true;
        return flow;
      }
      if (
        flow.clientPort === view.dstPort &&
        flow.serverPort === view.srcPort &&
        flow.clientAddress === dst &&
        flow.serverAddress === src
      ) {
        this.toServer = false;
        return flow;
      }
    }
    return undefined;
  }

  private static hashOfFlow(flow: IndexedFlow): number {
    return FlowIndex.hashOf(
      flow.protocolNumber,
      flow.clientAddress,
      flow.clientPort,
      flow.serverAddress,
      flow.serverPort,
    );
  }

  insert(flow: F): void {
    const hash = FlowIndex.hashOfFlow(flow);
    const bucket = this.buckets.get(hash);
    if (bucket) bucket.push(flow);
    else this.buckets.set(hash, [flow]);
  }

  delete(flow: F): void {
    const hash = FlowIndex.hashOfFlow(flow);
    const bucket = this.buckets.get(hash);
    if (!bucket) return;
    const i = bucket.indexOf(flow);
    if (i >= 0) bucket.splice(i, 1);
    if (bucket.length === 0) this.buckets.delete(hash);
  }
}
