import type { SkipReason } from './skipReasons.ts';

/** IPv6 header (RFC 8200 §3) and the extension headers of §4 up to the upper-layer header. */
const HEADER_LENGTH = 40;
const NEXT_HEADER = {
  hopByHop: 0,
  routing: 43,
  fragment: 44,
  esp: 50,
  ah: 51,
  noNext: 59,
  destination: 60,
  mobility: 135,
} as const;

export interface Ipv6Packet {
  readonly source: string;
  readonly destination: string;
  /** Upper-layer protocol after the extension headers (6 TCP, 17 UDP, …). */
  readonly protocol: number;
  /** Bytes at the IP layer: 40 + Payload Length. */
  readonly totalLength: number;
  /** Present when a Fragment header was found (RFC 8200 §4.5). */
  readonly fragment?: {
    readonly identification: number;
    readonly offset: number;
    readonly moreFragments: boolean;
  };
  /** Upper-layer payload (for a fragment: this fragment's part of it). */
  readonly payload: Buffer;
}

/** RFC 5952 text form: lowercase, longest run of zero groups compressed. */
export function formatIpv6(b: Buffer, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(offset + i * 2));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** `snapped`: as for decodeIpv4. */
export function decodeIpv6(packet: Buffer, snapped = false): Ipv6Packet | SkipReason {
  if (packet.length < HEADER_LENGTH) return 'truncated-ip';
  if (packet[0]! >> 4 !== 6) return 'bad-ip-header';
  const payloadLength = packet.readUInt16BE(4);
  if (HEADER_LENGTH + payloadLength > packet.length && !snapped) return 'truncated-ip';
  const end = Math.min(packet.length, HEADER_LENGTH + payloadLength);
  let next = packet[6]!;
  let offset = HEADER_LENGTH;
  let fragment: Ipv6Packet['fragment'];
  while (true) {
    if (
      next === NEXT_HEADER.hopByHop ||
      next === NEXT_HEADER.routing ||
      next === NEXT_HEADER.destination ||
      next === NEXT_HEADER.mobility
    ) {
      if (offset + 8 > end) return 'truncated-ip';
      const length = (packet[offset + 1]! + 1) * 8;
      next = packet[offset]!;
      offset += length;
    } else if (next === NEXT_HEADER.fragment) {
      if (offset + 8 > end) return 'truncated-ip';
      const offsetAndFlags = packet.readUInt16BE(offset + 2);
      fragment = {
        identification: packet.readUInt32BE(offset + 4),
        offset: offsetAndFlags & 0xfff8,
        moreFragments: (offsetAndFlags & 1) === 1,
      };
      next = packet[offset]!;
      offset += 8;
    } else if (next === NEXT_HEADER.ah) {
      if (offset + 8 > end) return 'truncated-ip';
      const length = (packet[offset + 1]! + 2) * 4;
      next = packet[offset]!;
      offset += length;
    } else {
      break; // upper layer, ESP (encrypted) or No Next Header
    }
    if (offset > end) return 'truncated-ip';
  }
  return {
    source: formatIpv6(packet, 8),
    destination: formatIpv6(packet, 24),
    protocol: next,
    totalLength: HEADER_LENGTH + payloadLength,
    ...(fragment ? { fragment } : {}),
    payload: packet.subarray(offset, end),
  };
}
