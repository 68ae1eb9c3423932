import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { CapturedPacket } from '../capture/capturedPacket.ts';
import { PCAP_MAGIC, type PcapHeader, parsePcapHeader } from '../capture/classicPcap.ts';
import { ProbePipeline } from '../pipeline.ts';

/**
 * PCAPdroid's UDP exporter: the first datagram carries the pcap file header (24 bytes), every
 * later datagram one or more whole pcap records (header + packet, optionally with PCAPdroid's
 * trailer naming the app). https://emanuele-f.github.io/PCAPdroid/dump_modes (UDP Exporter)
 * Datagrams before the header, and records cut short, are counted and skipped.
 */
export interface UdpListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly context: LabContext;
  readonly emit: (record: FlowRecord) => Promise<void>;
  readonly warn?: (message: string) => void;
  /** How often idle flows are closed without traffic (wall clock). @default 1000 */
  readonly tickMs?: number;
}

export interface LiveStats {
  readonly packets: number;
  readonly flows: number;
  readonly datagrams: number;
  /** Datagrams dropped: before the pcap header, or holding a cut-off record. */
  readonly droppedDatagrams: number;
  readonly skipped: string;
}

export interface LiveListener {
  /** `udp://host:port` or `tcp://host:port` as bound (the port is real when 0 was asked for). */
  readonly address: string;
  /** Stops listening, emits every open flow, and says what was seen. */
  stop(): Promise<LiveStats>;
}

const RECORD_HEADER_LENGTH = 16;

export async function listenPcapdroidUdp(options: UdpListenerOptions): Promise<LiveListener> {
  const pipeline = new ProbePipeline(options.context, `udp://${options.host}:${options.port}`, options.emit);
  pipeline.input = 'pcapdroid-udp';
  const warn = options.warn ?? ((message: string) => process.stderr.write(`leakwatch probe: ${message}\n`));
  const packet = new CapturedPacket();
  let header: PcapHeader | undefined;
  let datagrams = 0;
  let dropped = 0;
  let warnedNoHeader = false;
  let lastPacketWallMs = Date.now();
  // Records are sent in arrival order: each datagram's drain waits for the previous one.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>) => {
    queue = queue.then(work).catch((error: Error) => warn(`sending records failed: ${error.message}`));
  };

  const onDatagram = (message: Buffer) => {
    datagrams++;
    let offset = 0;
    const magic = message.length >= 24 ? message.readUInt32LE(0) : 0;
    const magics: number[] = [PCAP_MAGIC.microseconds, PCAP_MAGIC.nanoseconds];
    if (magics.includes(magic) || (message.length >= 24 && magics.includes(message.readUInt32BE(0)))) {
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
        skipped: pipeline.skipped.summary(),
      };
    },
  };
}
