import type { SkipReason } from './skipReasons.ts';

/** IPv4 header, RFC 791 §3.1 (options skipped via IHL). */
const MIN_HEADER_LENGTH = 20;
export const IP_PROTOCOL = { tcp: 6, udp: 17 } as const;

export interface Ipv4Packet {
  readonly source: string;
  readonly destination: string;
  readonly protocol: number;
  /** Total Length field: header and payload, as on the wire. */
  readonly totalLength: number;
  readonly identification: number;
  readonly moreFragments: boolean;
  /** Fragment offset in bytes. */
  readonly fragmentOffset: number;
  readonly payload: Buffer;
}

const formatAddress = (b: Buffer, offset: number) =>
  `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;

/**
 * `snapped`: the capture stored fewer bytes than were on the wire (snap length), so a packet shorter
 * than its Total Length is expected; otherwise such a packet is malformed and skipped.
 */
export function decodeIpv4(packet: Buffer, snapped = false): Ipv4Packet | SkipReason {
  if (packet.length < MIN_HEADER_LENGTH) return 'truncated-ip';
  const versionAndIhl = packet[0]!;
  if (versionAndIhl >> 4 !== 4) return 'bad-ip-header';
  const headerLength = (versionAndIhl & 0x0f) * 4;
  if (headerLength < MIN_HEADER_LENGTH) return 'bad-ip-header';
  if (packet.length < headerLength) return 'truncated-ip';
  const totalLength = packet.readUInt16BE(2);
  if (totalLength < headerLength) return 'bad-ip-header';
  if (totalLength > packet.length && !snapped) return 'truncated-ip';
  const flagsAndOffset = packet.readUInt16BE(6);
  // Ethernet padding can follow totalLength; a snap length can cut the packet short of it.
  const end = Math.min(packet.length, totalLength);
  return {
    source: formatAddress(packet, 12),
    destination: formatAddress(packet, 16),
    protocol: packet[9]!,
    totalLength,
    identification: packet.readUInt16BE(4),
    moreFragments: (flagsAndOffset & 0x2000) !== 0,
    fragmentOffset: (flagsAndOffset & 0x1fff) * 8,
    payload: packet.subarray(headerLength, end),
  };
}
