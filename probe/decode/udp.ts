import type { SkipReason } from './skipReasons.ts';

/** UDP header, RFC 768. */
const HEADER_LENGTH = 8;

export interface UdpDatagram {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Buffer;
}

export function decodeUdp(datagram: Buffer): UdpDatagram | SkipReason {
  if (datagram.length < HEADER_LENGTH) return 'truncated-udp';
  const length = datagram.readUInt16BE(4);
  const end = length >= HEADER_LENGTH ? Math.min(length, datagram.length) : datagram.length;
  return {
    sourcePort: datagram.readUInt16BE(0),
    destinationPort: datagram.readUInt16BE(2),
    payload: datagram.subarray(HEADER_LENGTH, end),
  };
}
