import type { FlowRecord, LabContext } from '../schema/flowRecord.ts';
import { readClassicPcap } from './capture/classicPcap.ts';
import { decodeEthernet, ETHERTYPE, LINKTYPE_ETHERNET } from './decode/ethernet.ts';
import { decodeIpv4, IP_PROTOCOL } from './decode/ipv4.ts';
import { SkipCounter, type SkipReason } from './decode/skipReasons.ts';
import { decodeTcp } from './decode/tcp.ts';
import { decodeUdp } from './decode/udp.ts';
import { CaptureFormatError } from './errors.ts';
import { FlowTable, type TransportPacket } from './flowTable.ts';

/** LINKTYPE_RAW (101): packets start at the IP header, as PCAPdroid writes them. */
const LINKTYPE_RAW = 101;

export interface ProbeStats {
  readonly capture: string;
  packets: number;
  flows: number;
  readonly skipped: SkipCounter;
  /** Bytes of a final record cut short (capture stopped mid-write). */
  truncatedTailBytes: number;
}

const isSkip = (value: unknown): value is SkipReason => typeof value === 'string';

function toTransportPacket(timestampMicros: number, ipPacket: Buffer): TransportPacket | SkipReason {
  const ip = decodeIpv4(ipPacket);
  if (isSkip(ip)) return ip;
  const common = {
    timestampMicros,
    source: ip.source,
    destination: ip.destination,
    ipTotalLength: ip.totalLength,
  };
  if (ip.protocol === IP_PROTOCOL.tcp) {
    const tcp = decodeTcp(ip.payload);
    if (isSkip(tcp)) return tcp;
    return {
      ...common,
      protocol: 'tcp',
      sourcePort: tcp.sourcePort,
      destinationPort: tcp.destinationPort,
      payload: tcp.payload,
      tcp: { sequence: tcp.sequence, flags: tcp.flags },
    };
  }
  if (ip.protocol === IP_PROTOCOL.udp) {
    const udp = decodeUdp(ip.payload);
    if (isSkip(udp)) return udp;
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

/**
 * Reads one classic pcap capture and emits one flow record per flow, in the order flows close.
 * Packets that cannot be decoded are counted by reason and skipped; a bad file header throws
 * `CaptureFormatError` before anything is emitted.
 */
export async function runProbe(
  input: AsyncIterable<Buffer>,
  captureName: string,
  context: LabContext,
  emit: (record: FlowRecord) => Promise<void>,
): Promise<ProbeStats> {
  const stats: ProbeStats = {
    capture: captureName,
    packets: 0,
    flows: 0,
    skipped: new SkipCounter(),
    truncatedTailBytes: 0,
  };
  const { header, packets } = await readClassicPcap(input, captureName);
  if (header.linkType !== LINKTYPE_ETHERNET && header.linkType !== LINKTYPE_RAW) {
    throw new CaptureFormatError(
      `${captureName}: link type ${header.linkType} is not supported yet (supported: 1 Ethernet, 101 raw IP)`,
    );
  }
  const table = new FlowTable(context, captureName, async (record) => {
    stats.flows++;
    await emit(record);
  });
  while (true) {
    const next = await packets.next();
    if (next.done) {
      stats.truncatedTailBytes = next.value.truncatedTailBytes;
      break;
    }
    stats.packets++;
    const { data, timestampMicros } = next.value;
    let ipPacket: Buffer;
    if (header.linkType === LINKTYPE_ETHERNET) {
      const frame = decodeEthernet(data);
      if (isSkip(frame)) {
        stats.skipped.add(frame);
        continue;
      }
      if (frame.etherType !== ETHERTYPE.ipv4) {
        stats.skipped.add('unsupported-ethertype');
        continue;
      }
      ipPacket = frame.payload;
    } else {
      ipPacket = data;
    }
    const packet = toTransportPacket(timestampMicros, ipPacket);
    if (isSkip(packet)) {
      stats.skipped.add(packet);
      continue;
    }
    await table.add(packet);
  }
  await table.flushAll();
  return stats;
}
