import type { TransportPacket } from '../flowTable.ts';
import { IpFragmentReassembler } from './ipFragments.ts';
import { decodeIpv4, IP_PROTOCOL } from './ipv4.ts';
import { decodeIpv6 } from './ipv6.ts';
import { decodeLink } from './link.ts';
import type { SkipReason } from './skipReasons.ts';
import { decodeTcp } from './tcp.ts';
import { decodeUdp } from './udp.ts';

/** Result of decoding a packet: a transport packet, a skip reason, or 'held' (a fragment waiting for the rest). */
export type DecodeResult = TransportPacket | SkipReason | 'held';

/** Decodes link, network (reassembling fragments) and transport layers of one captured packet. */
export class PacketDecoder {
  readonly fragments = new IpFragmentReassembler();
  private lastExpiry = 0;

  /** `snapped`: the capture kept fewer bytes than the packet had (capturedLength < originalLength). */
  decode(linkType: number, frame: Buffer, timestampMicros: number, snapped = false): DecodeResult {
    const link = decodeLink(linkType, frame);
    if (typeof link === 'string') return link;
    if (timestampMicros - this.lastExpiry > 1_000_000) {
      this.fragments.expire(timestampMicros);
      this.lastExpiry = timestampMicros;
    }
    let source: string;
    let destination: string;
    let protocol: number;
    let ipBytes: number;
    let payload: Buffer;
    if (link.ipVersion === 4) {
      const ip = decodeIpv4(link.payload, snapped);
      if (typeof ip === 'string') return ip;
      ({ source, destination, protocol, payload } = ip);
      ipBytes = ip.totalLength;
      if (ip.moreFragments || ip.fragmentOffset > 0) {
        const whole = this.fragments.add(
          `4|${source}|${destination}|${protocol}|${ip.identification}`,
          ip.fragmentOffset,
          ip.moreFragments,
          payload,
          ipBytes,
          timestampMicros,
        );
        if (whole === 'limit') return 'fragment-limit';
        if (!whole) return 'held';
        payload = whole.payload;
        ipBytes = whole.ipBytes;
      }
    } else {
      const ip = decodeIpv6(link.payload, snapped);
      if (typeof ip === 'string') return ip;
      ({ source, destination, protocol, payload } = ip);
      ipBytes = ip.totalLength;
      // An atomic fragment (offset 0, no more fragments; RFC 6946) is a whole datagram.
      if (ip.fragment && (ip.fragment.moreFragments || ip.fragment.offset > 0)) {
        const whole = this.fragments.add(
          `6|${source}|${destination}|${ip.fragment.identification}`,
          ip.fragment.offset,
          ip.fragment.moreFragments,
          payload,
          ipBytes,
          timestampMicros,
        );
        if (whole === 'limit') return 'fragment-limit';
        if (!whole) return 'held';
        payload = whole.payload;
        ipBytes = whole.ipBytes;
      }
    }
    const common = { timestampMicros, source, destination, ipTotalLength: ipBytes };
    if (protocol === IP_PROTOCOL.tcp) {
      const tcp = decodeTcp(payload);
      if (typeof tcp === 'string') return tcp;
      return {
        ...common,
        protocol: 'tcp',
        sourcePort: tcp.sourcePort,
        destinationPort: tcp.destinationPort,
        payload: tcp.payload,
        tcp: { sequence: tcp.sequence, flags: tcp.flags },
      };
    }
    if (protocol === IP_PROTOCOL.udp) {
      const udp = decodeUdp(payload);
      if (typeof udp === 'string') return udp;
      return {
        ...common,
        protocol: 'udp',
        sourcePort: udp.sourcePort,
        destinationPort: udp.destinationPort,
        payload: udp.payload,
      };
    }
    return 'unsupported-ip-protocol';
  }
}
