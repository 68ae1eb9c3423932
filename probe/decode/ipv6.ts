import type { PacketView } from './packetView.ts';
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

/** RFC 5952 text form: lowercase, longest run of two or more zero groups compressed. */
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

/** Decodes the IPv6 header and its extension headers at `view.l3Offset`; `snapped` as for IPv4. */
export function decodeIpv6(view: PacketView, snapped: boolean): SkipReason | null {
  const packet = view.data;
  const start = view.l3Offset;
  const available = view.frameEnd - start;
  if (available < HEADER_LENGTH) return 'truncated-ip';
  if (packet[start]! >> 4 !== 6) return 'bad-ip-header';
  const payloadLength = packet.readUInt16BE(start + 4);
  if (HEADER_LENGTH + payloadLength > available && !snapped) return 'truncated-ip';
  const end = start + Math.min(available, HEADER_LENGTH + payloadLength);
  let next = packet[start + 6]!;
  let offset = start + HEADER_LENGTH;
  view.isFragment = false;
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
      view.fragmentId = packet.readUInt32BE(offset + 4);
      view.fragmentOffset = offsetAndFlags & 0xfff8;
      view.moreFragments = (offsetAndFlags & 1) === 1;
      // An atomic fragment (offset 0, no more fragments; RFC 6946) is a whole datagram.
      view.isFragment = view.moreFragments || view.fragmentOffset > 0;
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
  view.srcV6 = packet.toString('latin1', start + 8, start + 24);
  view.dstV6 = packet.toString('latin1', start + 24, start + 40);
  view.protocol = next;
  view.ipBytes = HEADER_LENGTH + payloadLength;
  view.l4Offset = offset;
  view.l4End = end;
  return null;
}
