import type { SkipReason } from './skipReasons.ts';

/**
 * Link-layer headers, each down to the network-layer protocol. Values: https://www.tcpdump.org/linktypes.html
 */
export const LINKTYPE = {
  null: 0,
  ethernet: 1,
  rawBsd12: 12,
  rawBsd14: 14,
  raw: 101,
  loop: 108,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const;

export const ETHERTYPE = { ipv4: 0x0800, ipv6: 0x86dd, vlan: 0x8100, qinq: 0x88a8, vlanOld: 0x9100 } as const;

export interface NetworkPayload {
  /** 4 or 6. */
  readonly ipVersion: 4 | 6;
  readonly payload: Buffer;
  /** 802.1Q VLAN ids, outer first. */
  readonly vlans?: number[];
}

const fromEtherType = (etherType: number, payload: Buffer, vlans?: number[]): NetworkPayload | SkipReason => {
  if (etherType === ETHERTYPE.ipv4)
    return vlans ? { ipVersion: 4, payload, vlans } : { ipVersion: 4, payload };
  if (etherType === ETHERTYPE.ipv6)
    return vlans ? { ipVersion: 6, payload, vlans } : { ipVersion: 6, payload };
  return 'unsupported-ethertype';
};

/** BSD AF_INET6 differs by OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS); Linux uses 10. */
const AF_INET = 2;
const AF_INET6 = new Set([10, 24, 28, 30]);

export function decodeLink(linkType: number, frame: Buffer): NetworkPayload | SkipReason {
  switch (linkType) {
    case LINKTYPE.ethernet: {
      // IEEE 802.3: dst MAC, src MAC, EtherType; then any number of 802.1Q/802.1ad tags (QinQ).
      if (frame.length < 14) return 'truncated-link-header';
      let etherType = frame.readUInt16BE(12);
      let offset = 14;
      let vlans: number[] | undefined;
      while (
        etherType === ETHERTYPE.vlan ||
        etherType === ETHERTYPE.qinq ||
        etherType === ETHERTYPE.vlanOld
      ) {
        if (frame.length < offset + 4) return 'truncated-link-header';
        vlans ??= [];
        vlans.push(frame.readUInt16BE(offset) & 0x0fff);
        etherType = frame.readUInt16BE(offset + 2);
        offset += 4;
      }
      return fromEtherType(etherType, frame.subarray(offset), vlans);
    }
    case LINKTYPE.raw:
    case LINKTYPE.rawBsd12:
    case LINKTYPE.rawBsd14:
    case LINKTYPE.ipv4:
    case LINKTYPE.ipv6: {
      if (frame.length < 1) return 'truncated-link-header';
      const version = frame[0]! >> 4;
      if (version === 4 || version === 6) return { ipVersion: version, payload: frame };
      return 'bad-ip-header';
    }
    case LINKTYPE.null:
    case LINKTYPE.loop: {
      // 4-byte address family: host byte order for NULL (so either order here), network order for LOOP.
      if (frame.length < 4) return 'truncated-link-header';
      const family =
        linkType === LINKTYPE.loop
          ? frame.readUInt32BE(0)
          : Math.min(frame.readUInt32LE(0), frame.readUInt32BE(0));
      if (family === AF_INET) return { ipVersion: 4, payload: frame.subarray(4) };
      if (AF_INET6.has(family)) return { ipVersion: 6, payload: frame.subarray(4) };
      return 'unsupported-ethertype';
    }
    case LINKTYPE.linuxSll:
      // Linux cooked capture v1: 16-byte header, protocol type at offset 14.
      if (frame.length < 16) return 'truncated-link-header';
      return fromEtherType(frame.readUInt16BE(14), frame.subarray(16));
    case LINKTYPE.linuxSll2:
      // Linux cooked capture v2: 20-byte header, protocol type at offset 0.
      if (frame.length < 20) return 'truncated-link-header';
      return fromEtherType(frame.readUInt16BE(0), frame.subarray(20));
    default:
      return 'unsupported-link-type';
  }
}
