import type { SkipReason } from './skipReasons.ts';

/** TCP header, RFC 9293 §3.1. */
const MIN_HEADER_LENGTH = 20;
export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

export interface TcpSegment {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly sequence: number;
  readonly flags: number;
  readonly payload: Buffer;
}

export function decodeTcp(segment: Buffer): TcpSegment | SkipReason {
  if (segment.length < MIN_HEADER_LENGTH) return 'truncated-tcp';
  const dataOffset = (segment[12]! >> 4) * 4;
  if (dataOffset < MIN_HEADER_LENGTH) return 'bad-tcp-header';
  if (segment.length < dataOffset) return 'truncated-tcp';
  return {
    sourcePort: segment.readUInt16BE(0),
    destinationPort: segment.readUInt16BE(2),
    sequence: segment.readUInt32BE(4),
    flags: segment[13]!,
    payload: segment.subarray(dataOffset),
  };
}
