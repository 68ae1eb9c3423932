import type { PacketView } from './packetView.ts';
import type { SkipReason } from './skipReasons.ts';

/** IPv4 header, RFC 791 §3.1 (options skipped via IHL). */
const MIN_HEADER_LENGTH = 20;
export const IP_PROTOCOL = { tcp: 6, udp: 17 } as const;

/**
 * Decodes the IPv4 header at `view.l3Offset`. `snapped`: the capture stored fewer bytes than were
 * on the wire (snap length), so a packet shorter than its Total Length is expected; otherwise such
 * a packet is malformed and skipped.
 */
export function decodeIpv4(view: PacketView, snapped: boolean): SkipReason | null {
  const packet = view.data;
  const start = view.l3Offset;
  const available = view.frameEnd - start;
  if (available < MIN_HEADER_LENGTH) return 'truncated-ip';
  const versionAndIhl = packet[start]!;
  if (versionAndIhl >> 4 !== 4) return 'bad-ip-header';
  const headerLength = (versionAndIhl & 0x0f) * 4;
  if (headerLength < MIN_HEADER_LENGTH) return 'bad-ip-header';
  if (available < headerLength) return 'truncated-ip';
  const totalLength = packet.readUInt16BE(start + 2);
  if (totalLength < headerLength) return 'bad-ip-header';
  if (totalLength > available && !snapped) return 'truncated-ip';
  const flagsAndOffset = packet.readUInt16BE(start + 6);
  view.srcV4 = packet.readUInt32BE(start + 12);
  view.dstV4 = packet.readUInt32BE(start + 16);
  view.protocol = packet[start + 9]!;
  view.ipBytes = totalLength;
  view.fragmentId = packet.readUInt16BE(start + 4);
  view.moreFragments = (flagsAndOffset & 0x2000) !== 0;
  view.fragmentOffset = (flagsAndOffset & 0x1fff) * 8;
  view.isFragment = view.moreFragments || view.fragmentOffset > 0;
  view.l4Offset = start + headerLength;
  // Ethernet padding can follow totalLength; a snap length can cut the packet short of it.
  view.l4End = start + Math.min(available, totalLength);
  return null;
}
