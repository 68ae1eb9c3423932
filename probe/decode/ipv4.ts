import type { SkipReason } from './skipReasons.ts';

/** IPv4 header, RFC 791 §3.1. */
const MIN_HEADER_LENGTH = 20;
export const IP_PROTOCOL = { tcp: 6, udp: 17 } as const;

export interface Ipv4Packet {
  readonly source: string;
  readonly destination: string;
  readonly protocol: number;
  /** Total Length field: header and payload, as on the wire. */
  readonly totalLength: number;
  readonly payload: Buffer;
}

const formatAddress = (b: Buffer, offset: number) =>
  `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;

export function decodeIpv4(packet: Buffer): Ipv4Packet | SkipReason {
  if (packet.length < MIN_HEADER_LENGTH) return 'truncated-ipv4';
  const versionAndIhl = packet[0]!;
  if (versionAndIhl >> 4 !== 4) return 'bad-ipv4-header';
  const headerLength = (versionAndIhl & 0x0f) * 4;
  if (headerLength < MIN_HEADER_LENGTH) return 'bad-ipv4-header';
  if (packet.length < headerLength) return 'truncated-ipv4';
  const totalLength = packet.readUInt16BE(2);
  if (totalLength < headerLength) return 'bad-ipv4-header';
  const flagsAndOffset = packet.readUInt16BE(6);
  const moreFragments = (flagsAndOffset & 0x2000) !== 0;
  const fragmentOffset = flagsAndOffset & 0x1fff;
  // Fragment reassembly is issue #3's work; a fragment is counted, not misread as a whole datagram.
  if (moreFragments || fragmentOffset !== 0) return 'ipv4-fragment';
  // Captures can carry Ethernet padding past totalLength, or be cut short by the snap length.
  const end = Math.min(packet.length, totalLength);
  return {
    source: formatAddress(packet, 12),
    destination: formatAddress(packet, 16),
    protocol: packet[9]!,
    totalLength,
    payload: packet.subarray(headerLength, end),
  };
}
