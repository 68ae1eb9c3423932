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
import { parseQuicLongHeader } from './decode/quic.ts';
import { TCP_FLAG, type TcpSegment } from './decode/tcp.ts';
import { looksLikeTls, parseClientHello, parseServerHelloVersion } from './decode/tls.ts';
import { TcpStream } from './tcpStream.ts';
import { PROBE_VERSION } from './version.ts';

/** Limits of the flow table; the defaults keep a probe's memory bounded whatever the capture size. */
export interface FlowTableLimits {
  /** Client→server bytes kept per flow for application decoding. @default 256 KiB */
  readonly clientStreamBytes: number;
  /** Server→client bytes kept per flow (TLS ServerHello, DNS over TCP). @default 16 KiB */
  readonly serverStreamBytes: number;
  /** A flow idle this long (capture time) is closed. @default 120 s */
  readonly idleTimeoutMicros: number;
  /** A flow open this long is reported and continues in a new record. @default 30 min */
  readonly activeTimeoutMicros: number;
  /** Open flows at most; the oldest is evicted beyond. @default 200,000 */
  readonly maxFlows: number;
  /** Stream bytes buffered across all flows at most; the oldest flows are evicted beyond. @default 96 MiB */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: FlowTableLimits = {
  clientStreamBytes: 256 * 1024,
  serverStreamBytes: 16 * 1024,
  idleTimeoutMicros: 120 * 1_000_000,
  activeTimeoutMicros: 30 * 60 * 1_000_000,
  maxFlows: 200_000,
  maxBufferedBytes: 96 * 1024 * 1024,
};

/**
 * A TCP flow that saw FIN from both sides (or RST) lingers this long, capture time, so its last ACK
 * and late FIN retransmissions count towards it instead of opening a phantom reversed flow (as
 * Suricata keeps them in one flow); a new SYN on the same 5-tuple ends the linger at once.
 */
export const CLOSE_LINGER_MICROS = 60 * 1_000_000;
const DNS_PORT = 53;

interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

interface FlowState {
  readonly key: string;
  readonly protocol: 'tcp' | 'udp';
  readonly client: Endpoint;
  readonly server: Endpoint;
  firstMicros: number;
  lastMicros: number;
  packets: { toServer: number; toClient: number };
  bytes: { toServer: number; toClient: number };
  payloadBytes: { toServer: number; toClient: number };
  clientStream: TcpStream;
  serverStream: TcpStream;
  serverFinished: boolean;
  clientFinished: boolean;
  end?: 'fin' | 'rst';
  closedAtMicros?: number;
  dnsQueries: { name: string; type: string }[];
  dnsAnswers: DnsAnswer[];
  /** First client datagram of a UDP flow (QUIC detection). */
  firstDatagram?: Buffer;
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
 * Tracks flows by 5-tuple, decides client and server, reassembles both directions for
 * application decoding, and turns each flow into a schema v1 record when it closes, times out or
 * is evicted. Everything here is synchronous; records go to `emit` as they are made.
 */
export class FlowTable {
  private readonly flows = new Map<string, FlowState>();
  /** Server IP → the name a DNS client asked for (the question, not the CNAME target). */
  private readonly namesByIp = new Map<string, string>();
  private lastSweepMicros = 0;
  private bufferedBytes = 0;
  evicted = 0;
  private readonly limits: FlowTableLimits;

  constructor(
    private readonly context: LabContext,
    private readonly captureName: string,
    private readonly emit: (record: FlowRecord) => void,
    limits: Partial<FlowTableLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get openFlows(): number {
    return this.flows.size;
  }

  add(packet: TransportPacket): void {
    const forwardKey = `${packet.protocol}|${packet.source}|${packet.sourcePort}|${packet.destination}|${packet.destinationPort}`;
    let flow = this.flows.get(forwardKey);
    if (!flow) {
      flow = this.flows.get(
        `${packet.protocol}|${packet.destination}|${packet.destinationPort}|${packet.source}|${packet.sourcePort}`,
      );
    }
    if (
      flow?.closedAtMicros !== undefined &&
      packet.tcp &&
      packet.tcp.flags & TCP_FLAG.syn &&
      !(packet.tcp.flags & TCP_FLAG.ack)
    ) {
      // A new SYN on a closed flow's 5-tuple: port reuse, a new connection.
      this.close(flow, flow.end ?? 'fin');
      flow = undefined;
    }
    if (flow && packet.timestampMicros - flow.firstMicros > this.limits.activeTimeoutMicros) {
      this.report(flow, 'active-timeout');
      this.restart(flow, packet.timestampMicros);
    }
    if (!flow) {
      if (this.flows.size >= this.limits.maxFlows) this.evictOldest();
      flow = this.open(packet);
      this.flows.set(flow.key, flow);
    }
    const toServer = packet.sourcePort === flow.client.port && packet.source === flow.client.ip;
    if (packet.timestampMicros > flow.lastMicros) flow.lastMicros = packet.timestampMicros;
    const payloadLength = packet.payload.length;
    if (toServer) {
      flow.packets.toServer++;
      flow.bytes.toServer += packet.ipTotalLength;
      flow.payloadBytes.toServer += payloadLength;
    } else {
      flow.packets.toClient++;
      flow.bytes.toClient += packet.ipTotalLength;
      flow.payloadBytes.toClient += payloadLength;
    }

    if (packet.protocol === 'udp') {
      this.addDatagram(flow, packet.payload, toServer);
    } else if (packet.tcp) {
      const { flags, sequence } = packet.tcp;
      const stream = toServer ? flow.clientStream : flow.serverStream;
      if (flags & TCP_FLAG.syn) stream.setInitialSequence(sequence);
      if (payloadLength > 0) {
        const before = stream.bufferedBytes;
        stream.add(sequence, packet.payload);
        this.bufferedBytes += stream.bufferedBytes - before;
      }
      if (flags & TCP_FLAG.fin) {
        if (toServer) flow.clientFinished = true;
        else flow.serverFinished = true;
      }
      if (flags & TCP_FLAG.rst) flow.end = 'rst';
      else if (flow.clientFinished && flow.serverFinished && !flow.end) flow.end = 'fin';
      if (flow.end && flow.closedAtMicros === undefined) flow.closedAtMicros = packet.timestampMicros;
    }
    if (this.bufferedBytes > this.limits.maxBufferedBytes) this.evictOldest();
    if (packet.timestampMicros - this.lastSweepMicros >= 1_000_000) this.sweep(packet.timestampMicros);
  }

  /** Emits every flow still open (end of capture). */
  flushAll(): void {
    for (const flow of [...this.flows.values()]) this.close(flow, flow.end ?? 'capture-end');
  }

  private open(packet: TransportPacket): FlowState {
    // The SYN sender is the client; a SYN-ACK seen first means the receiver is.
    const synAck = packet.tcp && packet.tcp.flags & TCP_FLAG.syn && packet.tcp.flags & TCP_FLAG.ack;
    // A DNS response seen first (QR bit set) means its receiver asked: Zeek "flips" such flows too.
    const dnsResponse =
      packet.protocol === 'udp' &&
      packet.sourcePort === DNS_PORT &&
      packet.payload.length > 2 &&
      (packet.payload[2]! & 0x80) !== 0;
    const reversed = Boolean(synAck) || dnsResponse;
    const a = { ip: packet.source, port: packet.sourcePort };
    const b = { ip: packet.destination, port: packet.destinationPort };
    const client = reversed ? b : a;
    const server = reversed ? a : b;
    return {
      key: `${packet.protocol}|${client.ip}|${client.port}|${server.ip}|${server.port}`,
      protocol: packet.protocol,
      client,
      server,
      firstMicros: packet.timestampMicros,
      lastMicros: packet.timestampMicros,
      packets: { toServer: 0, toClient: 0 },
      bytes: { toServer: 0, toClient: 0 },
      payloadBytes: { toServer: 0, toClient: 0 },
      clientStream: new TcpStream(this.limits.clientStreamBytes),
      serverStream: new TcpStream(this.limits.serverStreamBytes),
      serverFinished: false,
      clientFinished: false,
      dnsQueries: [],
      dnsAnswers: [],
    };
  }

  /** Starts a new record for a flow that continues after an active timeout. */
  private restart(flow: FlowState, nowMicros: number): void {
    this.bufferedBytes -= flow.clientStream.bufferedBytes + flow.serverStream.bufferedBytes;
    flow.firstMicros = nowMicros;
    flow.lastMicros = nowMicros;
    flow.packets = { toServer: 0, toClient: 0 };
    flow.bytes = { toServer: 0, toClient: 0 };
    flow.payloadBytes = { toServer: 0, toClient: 0 };
    flow.clientStream = new TcpStream(this.limits.clientStreamBytes);
    flow.serverStream = new TcpStream(this.limits.serverStreamBytes);
    flow.dnsQueries = [];
    flow.dnsAnswers = [];
    delete flow.firstDatagram;
  }

  private addDatagram(flow: FlowState, payload: Buffer, toServer: boolean): void {
    if (flow.server.port === DNS_PORT || flow.client.port === DNS_PORT) {
      this.addDnsMessage(flow, payload);
      return;
    }
    if (toServer && !flow.firstDatagram) flow.firstDatagram = Buffer.from(payload.subarray(0, 64));
  }

  private addDnsMessage(flow: FlowState, payload: Buffer): void {
    const message = decodeDns(payload);
    if (!message) return;
    for (const query of message.queries)
      if (flow.dnsQueries.length < 64 && !message.isResponse) flow.dnsQueries.push(query);
    if (!message.isResponse) return;
    if (flow.dnsQueries.length === 0)
      for (const query of message.queries.slice(0, 64)) flow.dnsQueries.push(query);
    const asked = message.queries[0]?.name;
    for (const answer of message.answers) {
      if (flow.dnsAnswers.length < 256) flow.dnsAnswers.push(answer);
      if (asked && (answer.type === 'A' || answer.type === 'AAAA')) this.namesByIp.set(answer.value, asked);
    }
  }

  private sweep(nowMicros: number): void {
    this.lastSweepMicros = nowMicros;
    for (const flow of [...this.flows.values()]) {
      if (flow.closedAtMicros !== undefined && nowMicros - flow.closedAtMicros > CLOSE_LINGER_MICROS) {
        this.close(flow, flow.end ?? 'fin');
      } else if (nowMicros - flow.lastMicros > this.limits.idleTimeoutMicros) {
        this.close(flow, 'timeout');
      }
    }
  }

  private evictOldest(): void {
    // Map order is insertion order: the first entries are the flows opened longest ago.
    for (const flow of this.flows.values()) {
      this.close(flow, 'evicted');
      this.evicted++;
      if (this.flows.size < this.limits.maxFlows && this.bufferedBytes <= this.limits.maxBufferedBytes / 2)
        return;
    }
  }

  private close(flow: FlowState, end: FlowRecord['flow']['end']): void {
    this.flows.delete(flow.key);
    this.report(flow, end);
    this.bufferedBytes -= flow.clientStream.bufferedBytes + flow.serverStream.bufferedBytes;
  }

  private report(flow: FlowState, end: FlowRecord['flow']['end']): void {
    this.emit(this.toRecord(flow, end));
  }

  private toRecord(flow: FlowState, end: FlowRecord['flow']['end']): FlowRecord {
    const { context } = this;
    const id = createHash('sha256')
      .update(`${context.session.id}|${flow.key}|${flow.firstMicros}`)
      .digest('hex')
      .slice(0, 32);
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
        packets: { ...flow.packets },
        bytes: { ...flow.bytes },
        payloadBytes: { ...flow.payloadBytes },
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
    const client = flow.clientStream.assemble();
    const server = flow.serverStream.assemble();
    const clientBytes = client.runs[0] ?? Buffer.alloc(0);
    const serverBytes = server.runs[0] ?? Buffer.alloc(0);
    const dropped = flow.clientStream.droppedBytes + client.gapBytes;
    if (dropped > 0) limits.streamBytesDropped = dropped;

    if (flow.protocol === 'tcp' && (flow.server.port === DNS_PORT || flow.client.port === DNS_PORT)) {
      // DNS over TCP: each message is prefixed by its two-byte length (RFC 1035 §4.2.2).
      for (const stream of [clientBytes, serverBytes]) {
        for (let offset = 0; offset + 2 <= stream.length; ) {
          const length = stream.readUInt16BE(offset);
          this.addDnsMessage(flow, stream.subarray(offset + 2, offset + 2 + length));
          offset += 2 + length;
        }
      }
    }
    if (flow.dnsQueries.length > 0 || flow.dnsAnswers.length > 0) {
      record.application = 'dns';
      record.transport = 'plaintext';
      record.dns = { queries: flow.dnsQueries, answers: flow.dnsAnswers };
    } else if (looksLikeTls(clientBytes)) {
      record.application = 'tls';
      record.transport = 'tls';
      const hello = parseClientHello(clientBytes);
      const negotiated = parseServerHelloVersion(serverBytes);
      if (hello) {
        record.tls = {
          version: negotiated ?? hello.version,
          offeredVersion: hello.version,
          ...(hello.sni ? { sni: hello.sni } : {}),
          ...(hello.alpn ? { alpn: hello.alpn.slice(0, 16) } : {}),
          ...(hello.ech ? { ech: true } : {}),
        };
        if (hello.sni) record.names.sni = hello.sni;
      } else if (negotiated) {
        record.tls = { version: negotiated };
      }
    } else if (looksLikeHttpRequest(clientBytes)) {
      this.describeHttp(record, clientBytes, limits);
    } else if (flow.firstDatagram) {
      const quic = parseQuicLongHeader(flow.firstDatagram);
      if (quic) {
        record.application = 'quic';
        record.transport = 'quic';
        record.quic = { version: quic.version };
      }
    }
    if (Object.keys(limits).length > 0) record.limits = limits;
    return record;
  }

  private describeHttp(record: FlowRecord, stream: Buffer, limits: NonNullable<FlowRecord['limits']>): void {
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
        ...(host ? { host: normaliseHost(host) } : {}),
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
}

/** Host header without port; an IPv6 literal keeps its brackets (`[::1]`). */
function normaliseHost(host: string): string {
  const lower = host.trim().toLowerCase();
  const withoutPort = lower.startsWith('[')
    ? lower.slice(0, lower.indexOf(']') + 1)
    : lower.replace(/:\d+$/, '');
  return withoutPort.slice(0, 256) || lower.slice(0, 256);
}
