import type { PacketView } from './packetView.ts';
import type { SkipReason } from './skipReasons.ts';

/**
 * Link-layer headers, each down to the network layer. Values: https://www.tcpdump.org/linktypes.html
 * Sets `view.data`, `view.l3Offset` and `view.ipVersion`.
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

/** BSD AF_INET6 differs by OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS); Linux uses 10. */
const AF_INET = 2;
const AF_INET6 = new Set([10, 24, 28, 30]);

function fromEtherType(view: PacketView, etherType: number, offset: number): SkipReason | null {
  if (etherType === ETHERTYPE.ipv4) view.ipVersion = 4;
  else if (etherType === ETHERTYPE.ipv6) view.ipVersion = 6;
  else return 'unsupported-ethertype';
  view.l3Offset = offset;
  return null;
}

/** Decodes the link header of the frame `buffer[start, end)`. */
export function decodeLink(
  view: PacketView,
  linkType: number,
  buffer: Buffer,
  start: number,
  end: number,
): SkipReason | null {
  view.data = buffer;
  view.frameEnd = end;
  const frame = buffer;
  const length = end - start;
  switch (linkType) {
    case LINKTYPE.ethernet: {
      // IEEE 802.3: dst MAC, src MAC, EtherType; then any number of 802.1Q/802.1ad tags (QinQ).
      if (length < 14) return 'truncated-link-header';
      let etherType = frame.readUInt16BE(start + 12);
      let offset = start + 14;
      while (
        etherType === ETHERTYPE.vlan ||
        etherType === ETHERTYPE.qinq ||
        etherType === ETHERTYPE.vlanOld
      ) {
        if (end < offset + 4) return 'truncated-link-header';
        etherType = frame.readUInt16BE(offset + 2);
        offset += 4;
      }
      return fromEtherType(view, etherType, offset);
    }
    case LINKTYPE.raw:
    case LINKTYPE.rawBsd12:
    case LINKTYPE.rawBsd14:
    case LINKTYPE.ipv4:
    case LINKTYPE.ipv6: {
      if (length < 1) return 'truncated-link-header';
      const version = frame[start]! >> 4;
      if (version !== 4 && version !== 6) return 'bad-ip-header';
      view.ipVersion = version;
      view.l3Offset = start;
      return null;
    }
    case LINKTYPE.null:
    case LINKTYPE.loop: {
      // 4-byte address family: host byte order for NULL (so either order here), network order for LOOP.
      if (length < 4) return 'truncated-link-header';
      const family =
        linkType === LINKTYPE.loop
          ? frame.readUInt32BE(start)
          : Math.min(frame.readUInt32LE(start), frame.readUInt32BE(start));
      if (family === AF_INET) view.ipVersion = 4;
      else if (AF_INET6.has(family)) view.ipVersion = 6;
      else return 'unsupported-ethertype';
      view.l3Offset = start + 4;
      return null;
    }
    case LINKTYPE.linuxSll:
      // Linux cooked capture v1: 16-byte header, protocol type at offset 14.
      if (length < 16) return 'truncated-link-header';
      return fromEtherType(view, frame.readUInt16BE(start + 14), start + 16);
    case LINKTYPE.linuxSll2:
      // Linux cooked capture v2: 20-byte header, protocol type at offset 0.
      if (length < 20) return 'truncated-link-header';
      return fromEtherType(view, frame.readUInt16BE(start), start + 20);
    default:
      return 'unsupported-link-type';
  }
}
