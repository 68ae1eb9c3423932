import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { CapturedPacket } from '../capture/capturedPacket.ts';
import { PCAP_MAGIC, type PcapHeader, parsePcapHeader } from '../capture/classicPcap.ts';
import { ProbePipeline } from '../pipeline.ts';

/**
 * PCAPdroid's UDP exporter: the first datagram carries the pcap file header (24 bytes), every
 * later datagram one or more whole pcap records (header + packet, optionally with PCAPdroid's
 * trailer naming the app). https://emanuele-f.github.io/PCAPdroid/dump_modes (UDP Exporter)
 * Datagrams before the header, and records cut short, are counted and skipped. Datagrams are taken
 * from one sender only: the address that sent the first pcap header (or those of `allow`); anyone
 * else's, a header above all (it would switch the link type under the lab's packets), is counted
 * and ignored.
 */
export interface UdpListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly context: LabContext;
  readonly emit: (record: FlowRecord) => Promise<void>;
  readonly warn?: (message: string) => void;
  /** How often idle flows are closed without traffic (wall clock). @default 1000 */
  readonly tickMs?: number;
  /** Sender addresses to take datagrams from (`--allow`); default: the first to send a pcap header. */
  readonly allow?: readonly string[];
}

export interface LiveStats {
  readonly packets: number;
  readonly flows: number;
  readonly datagrams: number;
  /** Datagrams dropped: before the pcap header, or holding a cut-off record. */
  readonly droppedDatagrams: number;
  /** Datagrams from senders other than the capture's (UDP). */
  readonly ignoredDatagrams?: number;
  /** Connections refused beyond the listener's limit (pcap over TCP). */
  readonly refusedConnections?: number;
  readonly skipped: string;
}

export interface LiveListener {
  /** `udp://host:port` or `tcp://host:port` as bound (the port is real when 0 was asked for). */
  readonly address: string;
  /** Stops listening, emits every open flow, and says what was seen. */
  stop(): Promise<LiveStats>;
}

const RECORD_HEADER_LENGTH = 16;

/** An IPv4 address as an IPv6 socket reports it (::ffff:a.b.c.d) is the IPv4 address. */
const normaliseAddress = (address: string) =>
  address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1').toLowerCase();

export async function listenPcapdroidUdp(options: UdpListenerOptions): Promise<LiveListener> {
  const pipeline = new ProbePipeline(options.context, `udp://${options.host}:${options.port}`, options.emit);
  pipeline.input = 'pcapdroid-udp';
  const warn = options.warn ?? ((message: string) => process.stderr.write(`leakwatch probe: ${message}\n`));
  const packet = new CapturedPacket();
  let header: PcapHeader | undefined;
  let datagrams = 0;
  let dropped = 0;
  let warnedNoHeader = false;
  let ignored = 0;
  const ignoredFrom = new Set<string>();
  /** Who may send: the allow-list, or the first sender of a pcap header. */
  const allowed = new Set((options.allow ?? []).map(normaliseAddress));
  const fixedAllowList = allowed.size > 0;
  let lastPacketWallMs = Date.now();
  // Records are sent in arrival order: each datagram's drain waits for the previous one.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>) => {
    queue = queue.then(work).catch((error: Error) => warn(`sending records failed: ${error.message}`));
  };

  const onDatagram = (message: Buffer, sender: RemoteInfo) => {
    datagrams++;
    let offset = 0;
    const magic = message.length >= 24 ? message.readUInt32LE(0) : 0;
    const magics: number[] = [PCAP_MAGIC.microseconds, PCAP_MAGIC.nanoseconds];
    const isHeader =
      magics.includes(magic) || (message.length >= 24 && magics.includes(message.readUInt32BE(0)));
    const from = normaliseAddress(sender.address);
    if (!fixedAllowList && allowed.size === 0 && isHeader) allowed.add(from);
    if (allowed.size > 0 && !allowed.has(from)) {
      ignored++;
      if (!ignoredFrom.has(from) && ignoredFrom.size < 16) {
        ignoredFrom.add(from);
        warn(
          `ignoring datagrams from ${from}: this listener takes the capture of ${[...allowed].join(', ')}${fixedAllowList ? ' (--allow)' : ', which sent the first pcap header'}; add --allow ${from} to take it too`,
        );
      }
      return;
    }
    if (isHeader) {
      header = parsePcapHeader(message, 'PCAPdroid UDP exporter');
      offset = 24;
    }
    if (!header) {
      dropped++;
      if (!warnedNoHeader) {
        warn(
          'waiting for the pcap header PCAPdroid sends when its capture starts; restart the capture in PCAPdroid',
        );
        warnedNoHeader = true;
      }
      return;
    }
    const { littleEndian, nanosecond, linkType } = header;
    const u32 = (at: number) => (littleEndian ? message.readUInt32LE(at) : message.readUInt32BE(at));
    while (offset + RECORD_HEADER_LENGTH <= message.length) {
      const capturedLength = u32(offset + 8);
      const end = offset + RECORD_HEADER_LENGTH + capturedLength;
      if (end > message.length) {
        dropped++;
        break;
      }
      const fraction = u32(offset + 4);
      packet.timestampMicros =
        u32(offset) * 1_000_000 + (nanosecond ? Math.floor(fraction / 1000) : fraction);
      packet.capturedLength = capturedLength;
      packet.originalLength = u32(offset + 12);
      packet.buffer = message;
      packet.offset = offset + RECORD_HEADER_LENGTH;
      packet.linkType = linkType;
      packet.fileOffset = 0;
      pipeline.add(packet);
      offset = end;
    }
    lastPacketWallMs = Date.now();
    enqueue(() => pipeline.drain());
  };

  const socket: Socket = createSocket(isIPv6(options.host) ? 'udp6' : 'udp4');
  socket.on('message', onDatagram);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port, options.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (error) => warn(`UDP socket error: ${error.message}`));
  // Without traffic, capture time stands still: advance it by wall time so idle flows close.
  const timer = setInterval(() => {
    if (pipeline.lastPacketMicros === 0) return;
    pipeline.tick(pipeline.lastPacketMicros + (Date.now() - lastPacketWallMs) * 1000);
    enqueue(() => pipeline.drain());
  }, options.tickMs ?? 1000);
  timer.unref();
  const bound = socket.address();
  return {
    address: `udp://${bound.address}:${bound.port}`,
    async stop(): Promise<LiveStats> {
      clearInterval(timer);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await queue;
      await pipeline.finish();
      return {
        packets: pipeline.packets,
        flows: pipeline.flows,
        datagrams,
        droppedDatagrams: dropped,
        ignoredDatagrams: ignored,
        skipped: pipeline.skipped.summary(),
      };
    },
  };
}
