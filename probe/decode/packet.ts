import type { CapturedPacket } from '../capture/capturedPacket.ts';
import { IpFragmentReassembler } from './ipFragments.ts';
import { decodeIpv4, IP_PROTOCOL } from './ipv4.ts';
import { decodeIpv6 } from './ipv6.ts';
import { decodeLink } from './link.ts';
import { PacketView } from './packetView.ts';
import type { SkipReason } from './skipReasons.ts';
import { decodeTcp } from './tcp.ts';
import { decodeUdp } from './udp.ts';

/**
 * PCAPdroid's per-packet trailer (pcap dump mode "with trailer": link type Ethernet with a dummy
 * header, the IP packet, padding, then these 32 bytes): magic, Android UID, app name (20 bytes,
 * NUL-padded), FCS; big-endian. See PCAPdroid's pcap_utils.h, struct pcapdroid_trailer.
 */
export const PCAPDROID_TRAILER = { magic: 0x01072021, length: 32, nameLength: 20 } as const;

/** 'ok' (the view holds a TCP or UDP packet), a skip reason, or 'held' (a fragment waiting for the rest). */
export type DecodeResult = 'ok' | 'held' | SkipReason;

/** 9999-12-31T23:59:59.999Z, the last instant a record's ISO 8601 times can name. */
export const MAX_TIMESTAMP_MICROS = 253_402_300_799_999_000;

/** Decodes link, network (reassembling fragments) and transport layers into one reused view. */

export class PacketDecoder {
  readonly view = new PacketView();
  readonly fragments = new IpFragmentReassembler();
  private lastExpiry = 0;
  private readonly appNames = new Map<number, string>();

  /** Reads a PCAPdroid trailer at the end of an Ethernet frame, if there is one. */
  private readTrailer(buffer: Buffer, start: number, end: number): void {
    const view = this.view;
    view.appUid = -1;
    const at = end - PCAPDROID_TRAILER.length;
    if (at < start + 14 + 20 || buffer.readUInt32BE(at) !== PCAPDROID_TRAILER.magic) return;
    const uid = buffer.readInt32BE(at + 4);
    view.appUid = uid;
    let name = this.appNames.get(uid);
    if (name === undefined) {
      const raw = buffer.subarray(at + 8, at + 8 + PCAPDROID_TRAILER.nameLength);
      const nul = raw.indexOf(0);
      name = raw.toString('utf8', 0, nul < 0 ? raw.length : nul);
      this.appNames.set(uid, name);
    }
    view.appName = name;
  }

  /** A packet as a capture reader hands it over. */
  decodeCaptured(packet: CapturedPacket): DecodeResult {
    if (!(packet.timestampMicros <= MAX_TIMESTAMP_MICROS)) return 'timestamp-out-of-range';
    return this.decode(
      packet.linkType,
      packet.buffer,
      packet.offset,
      packet.offset + packet.capturedLength,
      packet.timestampMicros,
      packet.capturedLength < packet.originalLength,
    );
  }

  /** `snapped`: the capture kept fewer bytes than the packet had (capturedLength < originalLength). */
  decode(
    linkType: number,
    buffer: Buffer,
    start: number,
    end: number,
    timestampMicros: number,
    snapped = false,
  ): DecodeResult {
    const view = this.view;
    view.timestampMicros = timestampMicros;
    const link = decodeLink(view, linkType, buffer, start, end);
    if (link) return link;
    if (linkType === 1) this.readTrailer(buffer, start, end);
    else view.appUid = -1;
    const ip = view.ipVersion === 4 ? decodeIpv4(view, snapped) : decodeIpv6(view, snapped);
    if (ip) return ip;
    if (view.isFragment) {
      if (timestampMicros - this.lastExpiry > 1_000_000) {
        this.fragments.expire(timestampMicros);
        this.lastExpiry = timestampMicros;
      }
      const key =
        view.ipVersion === 4
          ? `4|${view.srcV4}|${view.dstV4}|${view.protocol}|${view.fragmentId}`
          : `6|${view.srcV6}|${view.dstV6}|${view.fragmentId}`;
      const whole = this.fragments.add(
        key,
        view.fragmentOffset,
        view.moreFragments,
        view.data.subarray(view.l4Offset, view.l4End),
        view.ipBytes,
        timestampMicros,
      );
      if (whole === 'limit') return 'fragment-limit';
      if (!whole) return 'held';
      view.data = whole.payload;
      view.frameEnd = whole.payload.length;
      view.l4Offset = 0;
      view.l4End = whole.payload.length;
      view.ipBytes = whole.ipBytes;
    }
    if (view.protocol === IP_PROTOCOL.tcp) return decodeTcp(view) ?? 'ok';
    if (view.protocol === IP_PROTOCOL.udp) return decodeUdp(view) ?? 'ok';
    return 'unsupported-ip-protocol';
  }
}
