import type { PacketView } from './packetView.ts';
import type { SkipReason } from './skipReasons.ts';

/** UDP header, RFC 768. */
const HEADER_LENGTH = 8;

export function decodeUdp(view: PacketView): SkipReason | null {
  const datagram = view.data;
  const start = view.l4Offset;
  if (view.l4End - start < HEADER_LENGTH) return 'truncated-udp';
  const length = datagram.readUInt16BE(start + 4);
  view.srcPort = datagram.readUInt16BE(start);
  view.dstPort = datagram.readUInt16BE(start + 2);
  view.tcpFlags = 0;
  view.payloadOffset = start + HEADER_LENGTH;
  view.payloadEnd = length >= HEADER_LENGTH ? Math.min(start + length, view.l4End) : view.l4End;
  return null;
}
