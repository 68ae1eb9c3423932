import { createHash } from 'node:crypto';
import {
  type Candidate,
  type DnsAnswer,
  FLOW_RECORD_SCHEMA_VERSION,
  type FlowRecord,
  type HttpRequestInfo,
  type LabContext,
  MAX_CANDIDATES_PER_FLOW,
  MAX_HTTP_REQUESTS_PER_FLOW,
} from '../schema/flowRecord.ts';
import { extractCandidates } from './candidates.ts';
import { decodeDns } from './decode/dns.ts';
import { headerValue, looksLikeHttpRequest, parseHttpRequests } from './decode/http1.ts';
import { TCP_FLAG, type TcpSegment } from './decode/tcp.ts';
import { looksLikeTls, parseClientHello } from './decode/tlsClientHello.ts';
import { PROBE_VERSION } from './version.ts';

/** Client→server bytes kept per flow for application decoding; the rest is counted, not kept. */
export const MAX_STREAM_BYTES = 256 * 1024;
/** A flow with no packet for this long (capture time) is closed and emitted. */
export const IDLE_TIMEOUT_MICROS = 120 * 1_000_000;
/**
 * A TCP flow that saw FIN from both sides (or RST) stays this long, capture time, so its last ACK
 * and stray retransmissions count towards it instead of opening a phantom flow.
 */
export const CLOSE_LINGER_MICROS = 2 * 1_000_000;
const DNS_PORT = 53;

interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

interface Segment {
  readonly sequence: number;
  readonly data: Buffer;
}

interface FlowState {
  readonly protocol: 'tcp' | 'udp';
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly firstMicros: number;
  lastMicros: number;
  readonly packets: { toServer: number; toClient: number };
  readonly bytes: { toServer: number; toClient: number };
  readonly payloadBytes: { toServer: number; toClient: number };
  /** Initial sequence number of the client, when its SYN was seen. */
  clientIsn?: number;
  readonly clientSegments: Segment[];
  clientBufferedBytes: number;
  droppedStreamBytes: number;
  serverFinished: boolean;
  clientFinished: boolean;
  end?: 'fin' | 'rst';
  /** Capture time when FIN from both sides, or a RST, was seen. */
  closedAtMicros?: number;
  dnsQueries: { name: string; type: string }[];
  dnsAnswers: DnsAnswer[];
}

export interface TransportPacket {
  readonly timestampMicros: number;
  readonly source: string;
  readonly destination: string;
  readonly ipTotalLength: number;
  readonly protocol: 'tcp' | 'udp';
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Buffer;
  /** TCP only. */
  readonly tcp?: Pick<TcpSegment, 'sequence' | 'flags'>;
}

const iso = (micros: number) => new Date(Math.floor(micros / 1000)).toISOString();

/**
 * Tracks flows by 5-tuple, decides client and server, keeps the client's byte stream for
 * application decoding, and turns each closed flow into a schema v1 record.
 */
export class FlowTable {
  private readonly flows = new Map<string, FlowState>();
  /** Server IP → the name a DNS client asked for (the question, not the CNAME target). */
  private readonly namesByIp = new Map<string, string>();
  private lastSweepMicros = 0;

  constructor(
    private readonly context: LabContext,
    private readonly captureName: string,
    private readonly emit: (record: FlowRecord) => Promise<void>,
  ) {}

  get openFlows(): number {
    return this.flows.size;
  }

  async add(packet: TransportPacket): Promise<void> {
    const forwardKey = `${packet.protocol}|${packet.source}|${packet.sourcePort}|${packet.destination}|${packet.destinationPort}`;
    const reverseKey = `${packet.protocol}|${packet.destination}|${packet.destinationPort}|${packet.source}|${packet.sourcePort}`;
    let key = forwardKey;
    let flow = this.flows.get(forwardKey);
    if (!flow) {
      flow = this.flows.get(reverseKey);
      if (flow) key = reverseKey;
    }
    if (
      flow?.closedAtMicros !== undefined &&
      packet.tcp &&
      packet.tcp.flags & TCP_FLAG.syn &&
      !(packet.tcp.flags & TCP_FLAG.ack)
    ) {
      // A new SYN on a closed flow's 5-tuple: port reuse, a new connection.
      await this.close(key, flow, flow.end ?? 'fin');
      flow = undefined;
    }
    if (!flow) {
      flow = this.open(packet);
      key = `${flow.protocol}|${flow.client.ip}|${flow.client.port}|${flow.server.ip}|${flow.server.port}`;
      this.flows.set(key, flow);
    }
    const toServer = packet.source === flow.client.ip && packet.sourcePort === flow.client.port;
    flow.lastMicros = Math.max(flow.lastMicros, packet.timestampMicros);
    const direction = toServer ? 'toServer' : 'toClient';
    flow.packets[direction]++;
    flow.bytes[direction] += packet.ipTotalLength;
    flow.payloadBytes[direction] += packet.payload.length;

    if (packet.protocol === 'udp') {
      this.addDatagram(flow, packet.payload, toServer);
    } else if (packet.tcp) {
      const { flags, sequence } = packet.tcp;
      if (toServer && flags & TCP_FLAG.syn) flow.clientIsn = sequence;
      if (toServer && packet.payload.length > 0) this.addClientSegment(flow, sequence, packet.payload);
      if (flags & TCP_FLAG.fin) {
        if (toServer) flow.clientFinished = true;
        else flow.serverFinished = true;
      }
      if (flags & TCP_FLAG.rst) flow.end = 'rst';
      else if (flow.clientFinished && flow.serverFinished && !flow.end) flow.end = 'fin';
      if (flow.end && flow.closedAtMicros === undefined) flow.closedAtMicros = packet.timestampMicros;
    }
    await this.sweep(packet.timestampMicros);
  }

  /** Emits every flow still open (end of capture). */
  async flushAll(): Promise<void> {
    for (const [key, flow] of [...this.flows]) await this.close(key, flow, flow.end ?? 'capture-end');
  }

  private open(packet: TransportPacket): FlowState {
    // The SYN sender is the client; a SYN-ACK seen first means the receiver is.
    const synAck = packet.tcp && packet.tcp.flags & TCP_FLAG.syn && packet.tcp.flags & TCP_FLAG.ack;
    const responseFromDnsServer =
      packet.protocol === 'udp' && packet.sourcePort === DNS_PORT && packet.destinationPort !== DNS_PORT;
    const reversed = Boolean(synAck) || responseFromDnsServer;
    const a = { ip: packet.source, port: packet.sourcePort };
    const b = { ip: packet.destination, port: packet.destinationPort };
    return {
      protocol: packet.protocol,
      client: reversed ? b : a,
      server: reversed ? a : b,
      firstMicros: packet.timestampMicros,
      lastMicros: packet.timestampMicros,
      packets: { toServer: 0, toClient: 0 },
      bytes: { toServer: 0, toClient: 0 },
      payloadBytes: { toServer: 0, toClient: 0 },
      clientSegments: [],
      clientBufferedBytes: 0,
      droppedStreamBytes: 0,
      serverFinished: false,
      clientFinished: false,
      dnsQueries: [],
      dnsAnswers: [],
    };
  }

  private addDatagram(flow: FlowState, payload: Buffer, toServer: boolean): void {
    if (flow.server.port !== DNS_PORT) {
      if (toServer) this.addClientSegment(flow, flow.clientBufferedBytes, payload);
      return;
    }
    const message = decodeDns(payload);
    if (!message) return;
    if (!message.isResponse) {
      for (const query of message.queries) if (flow.dnsQueries.length < 64) flow.dnsQueries.push(query);
      return;
    }
    const asked = message.queries[0]?.name;
    for (const answer of message.answers) {
      if (flow.dnsAnswers.length < 256) flow.dnsAnswers.push(answer);
      if (asked && (answer.type === 'A' || answer.type === 'AAAA')) this.namesByIp.set(answer.value, asked);
    }
  }

  private addClientSegment(flow: FlowState, sequence: number, data: Buffer): void {
    if (flow.clientBufferedBytes + data.length > MAX_STREAM_BYTES) {
      flow.droppedStreamBytes += data.length;
      return;
    }
    // Copy: the packet's buffer belongs to the capture reader and is reused.
    flow.clientSegments.push({ sequence, data: Buffer.from(data) });
    flow.clientBufferedBytes += data.length;
  }

  /** In-order client byte stream; retransmitted bytes are used once, and the stream stops at a gap. */
  private clientStream(flow: FlowState): { stream: Buffer; gapBytes: number } {
    if (flow.clientSegments.length === 0) return { stream: Buffer.alloc(0), gapBytes: 0 };
    if (flow.protocol === 'udp')
      return { stream: Buffer.concat(flow.clientSegments.map((s) => s.data)), gapBytes: 0 };
    const base = flow.clientIsn !== undefined ? (flow.clientIsn + 1) >>> 0 : flow.clientSegments[0]!.sequence;
    // Signed 32-bit distance from the base handles sequence number wrap-around (RFC 9293 §3.4).
    const ordered = flow.clientSegments
      .map((segment) => ({ offset: (segment.sequence - base) | 0, data: segment.data }))
      .sort((x, y) => x.offset - y.offset);
    const parts: Buffer[] = [];
    let next = Math.min(0, ordered[0]!.offset);
    let gapBytes = 0;
    for (const { offset, data } of ordered) {
      if (offset > next) {
        gapBytes = offset - next;
        break;
      }
      const end = offset + data.length;
      if (end <= next) continue;
      parts.push(data.subarray(next - offset));
      next = end;
    }
    return { stream: Buffer.concat(parts), gapBytes };
  }

  private async sweep(nowMicros: number): Promise<void> {
    if (nowMicros - this.lastSweepMicros < 1_000_000) return;
    this.lastSweepMicros = nowMicros;
    for (const [key, flow] of [...this.flows]) {
      if (flow.closedAtMicros !== undefined && nowMicros - flow.closedAtMicros > CLOSE_LINGER_MICROS) {
        await this.close(key, flow, flow.end ?? 'fin');
      } else if (nowMicros - flow.lastMicros > IDLE_TIMEOUT_MICROS) {
        await this.close(key, flow, 'timeout');
      }
    }
  }

  private async close(key: string, flow: FlowState, end: FlowRecord['flow']['end']): Promise<void> {
    this.flows.delete(key);
    await this.emit(this.toRecord(flow, end));
  }

  private toRecord(flow: FlowState, end: FlowRecord['flow']['end']): FlowRecord {
    const { context } = this;
    const id = createHash('sha256')
      .update(
        `${context.session.id}|${flow.protocol}|${flow.client.ip}|${flow.client.port}|${flow.server.ip}|${flow.server.port}|${flow.firstMicros}`,
      )
      .digest('hex')
      .slice(0, 32);
    const { stream, gapBytes } = this.clientStream(flow);
    const record: FlowRecord = {
      schemaVersion: FLOW_RECORD_SCHEMA_VERSION,
      device: context.device,
      firmware: context.firmware,
      session: context.session,
      flow: {
        id,
        protocol: flow.protocol,
        client: flow.client,
        server: flow.server,
        startedAt: iso(flow.firstMicros),
        endedAt: iso(flow.lastMicros),
        packets: flow.packets,
        bytes: flow.bytes,
        payloadBytes: flow.payloadBytes,
        end,
      },
      names: {},
      transport: 'unknown',
      application: 'other',
      candidates: [],
      probe: { version: PROBE_VERSION, capture: this.captureName },
    };
    const dnsName = this.namesByIp.get(flow.server.ip);
    if (dnsName) record.names.dns = dnsName;
    const limits: NonNullable<FlowRecord['limits']> = {};
    const dropped = flow.droppedStreamBytes + gapBytes;
    if (dropped > 0) limits.streamBytesDropped = dropped;

    if (flow.dnsQueries.length > 0 || flow.dnsAnswers.length > 0) {
      record.application = 'dns';
      record.transport = 'plaintext';
      record.dns = { queries: flow.dnsQueries, answers: flow.dnsAnswers };
    } else if (looksLikeTls(stream)) {
      record.application = 'tls';
      record.transport = 'tls';
      const hello = parseClientHello(stream);
      if (hello) {
        record.tls = {
          version: hello.version,
          ...(hello.sni ? { sni: hello.sni } : {}),
          ...(hello.alpn ? { alpn: hello.alpn } : {}),
        };
        if (hello.sni) record.names.sni = hello.sni;
      }
    } else if (looksLikeHttpRequest(stream)) {
      record.application = 'http';
      record.transport = 'plaintext';
      const { requests } = parseHttpRequests(stream, MAX_HTTP_REQUESTS_PER_FLOW + 1);
      if (requests.length > MAX_HTTP_REQUESTS_PER_FLOW) {
        limits.httpRequestsDropped = requests.length - MAX_HTTP_REQUESTS_PER_FLOW;
        requests.length = MAX_HTTP_REQUESTS_PER_FLOW;
      }
      const http: HttpRequestInfo[] = [];
      const candidates: Candidate[] = [];
      let candidatesDropped = 0;
      requests.forEach((request, index) => {
        const host = headerValue(request, 'host');
        const userAgent = headerValue(request, 'user-agent');
        const contentType = headerValue(request, 'content-type');
        http.push({
          method: request.method.slice(0, 32),
          target: request.target.slice(0, 8192),
          ...(host ? { host: host.toLowerCase().replace(/:\d+$/, '').slice(0, 256) } : {}),
          ...(userAgent ? { userAgent: userAgent.slice(0, 1024) } : {}),
          ...(contentType ? { contentType: contentType.slice(0, 256) } : {}),
          bodyBytes: request.body.length,
        });
        const found = extractCandidates(request, index, MAX_CANDIDATES_PER_FLOW - candidates.length);
        candidates.push(...found.candidates);
        candidatesDropped += found.dropped;
      });
      record.http = http;
      record.candidates = candidates;
      if (candidatesDropped > 0) limits.candidatesDropped = candidatesDropped;
      if (http[0]?.host) record.names.httpHost = http[0].host;
    }
    if (Object.keys(limits).length > 0) record.limits = limits;
    return record;
  }
}
