import { formatIpv6 } from './ipv6.ts';

const EMPTY = Buffer.alloc(0);

/**
 * One decoded packet, filled in place by the layer decoders and reused for every packet, so the
 * hot path allocates nothing per packet. It is valid only until the next packet is decoded:
 * whoever keeps bytes copies them.
 */
export class PacketView {
  timestampMicros = 0;
  /** Buffer holding the network header (until reassembly) and the transport header and payload. */
  data: Buffer = EMPTY;
  /** End of the captured frame in `data` (the buffer may hold other packets after it). */
  frameEnd = 0;
  l3Offset = 0;
  ipVersion: 4 | 6 = 4;
  /** IPv4 addresses as unsigned 32-bit numbers. */
  srcV4 = 0;
  dstV4 = 0;
  /** IPv6 addresses as 16-character latin1 strings (cheap to compare and hash). */
  srcV6 = '';
  dstV6 = '';
  /** Upper-layer protocol (6 TCP, 17 UDP). */
  protocol = 0;
  /** Bytes of this packet (or of all fragments of a reassembled datagram) at the IP layer. */
  ipBytes = 0;
  l4Offset = 0;
  l4End = 0;
  isFragment = false;
  fragmentId = 0;
  fragmentOffset = 0;
  moreFragments = false;
  srcPort = 0;
  dstPort = 0;
  tcpSequence = 0;
  tcpFlags = 0;
  payloadOffset = 0;
  payloadEnd = 0;
  /** App from a PCAPdroid trailer on this packet (-1: none). */
  appUid = -1;
  appName = '';

  get payloadLength(): number {
    return this.payloadEnd - this.payloadOffset;
  }

  payload(): Buffer {
    return this.data.subarray(this.payloadOffset, this.payloadEnd);
  }

  sourceIp(): string {
    return this.ipVersion === 4 ? formatIpv4(this.srcV4) : formatIpv6(Buffer.from(this.srcV6, 'latin1'));
  }

  destinationIp(): string {
    return this.ipVersion === 4 ? formatIpv4(this.dstV4) : formatIpv6(Buffer.from(this.dstV6, 'latin1'));
  }
}

export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}
