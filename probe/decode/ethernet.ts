import type { SkipReason } from './skipReasons.ts';

/** IEEE 802.3 Ethernet II header (dst MAC, src MAC, EtherType), LINKTYPE_ETHERNET = 1. */
export const LINKTYPE_ETHERNET = 1;
export const ETHERTYPE = { ipv4: 0x0800, vlan: 0x8100 } as const;
const HEADER_LENGTH = 14;

export interface EthernetFrame {
  readonly etherType: number;
  readonly payload: Buffer;
}

export function decodeEthernet(frame: Buffer): EthernetFrame | SkipReason {
  if (frame.length < HEADER_LENGTH) return 'truncated-ethernet';
  let etherType = frame.readUInt16BE(12);
  let offset = HEADER_LENGTH;
  // One 802.1Q tag (IEEE 802.1Q §9.6): 2 bytes TCI, then the real EtherType.
  if (etherType === ETHERTYPE.vlan) {
    if (frame.length < offset + 4) return 'truncated-ethernet';
    etherType = frame.readUInt16BE(offset + 2);
    offset += 4;
  }
  return { etherType, payload: frame.subarray(offset) };
}
