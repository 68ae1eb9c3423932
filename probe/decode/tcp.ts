import type { PacketView } from './packetView.ts';
import type { SkipReason } from './skipReasons.ts';

/** TCP header, RFC 9293 §3.1. */
const MIN_HEADER_LENGTH = 20;
export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

/** Decodes the TCP header at `view.l4Offset`; the payload is `view.payloadOffset..payloadEnd`. */
export function decodeTcp(view: PacketView): SkipReason | null {
  const segment = view.data;
  const start = view.l4Offset;
  if (view.l4End - start < MIN_HEADER_LENGTH) return 'truncated-tcp';
  const dataOffset = (segment[start + 12]! >> 4) * 4;
  if (dataOffset < MIN_HEADER_LENGTH) return 'bad-tcp-header';
  if (view.l4End - start < dataOffset) return 'truncated-tcp';
  view.srcPort = segment.readUInt16BE(start);
  view.dstPort = segment.readUInt16BE(start + 2);
  view.tcpSequence = segment.readUInt32BE(start + 4);
  view.tcpFlags = segment[start + 13]!;
  view.payloadOffset = start + dataOffset;
  view.payloadEnd = view.l4End;
  return null;
}
