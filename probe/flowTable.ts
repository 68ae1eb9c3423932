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
import { looksLikeHttpRequest, parseHttpRequests, startsWithHttp2Preface } from './decode/http1.ts';
import { parseHttp2Requests } from './decode/http2.ts';
import type { PacketView } from './decode/packetView.ts';
import { parseQuicLongHeader } from './decode/quic.ts';
import { TCP_FLAG } from './decode/tcp.ts';
import { looksLikeTls, parseClientHello, parseServerHelloVersion } from './decode/tls.ts';
import { FlowIndex, type IndexedFlow } from './flowIndex.ts';
import { isoOfMicros, namesAfterDns, namesJson, type RecordEncoder } from './recordJson.ts';
import { flowId, summariseRequest } from './recordParts.ts';
import { TcpStream } from './tcpStream.ts';
import type { TlsKeyLog } from './tls/keyLog.ts';
import { clientRandom, type DecryptFailure, decryptClient } from './tls/tlsDecrypt.ts';
import { Tombstones } from './tombstones.ts';
import { PROBE_VERSION } from './version.ts';

/** Limits of the flow table; the defaults keep a probe's memory bounded whatever the capture size. */
export interface FlowTableLimits {
  /** Client→server bytes kept per flow for application decoding. @default 256 KiB */
  readonly clientStreamBytes: number;
  /** Server→client bytes kept per TLS flow (the ServerHello; none for other protocols). @default 1 KiB */
  readonly serverStreamBytes: number;
  /** Client bytes kept once the client stream is known to be TLS (enough for a large ClientHello). @default 16 KiB */
  readonly tlsClientStreamBytes: number;
  /** Bytes kept per direction of a stream that is neither HTTP, TLS nor DNS. @default 4 KiB */
  readonly otherStreamBytes: number;
  /** Bytes kept per direction of DNS over TCP. @default 64 KiB */
  readonly dnsStreamBytes: number;
  /** A flow idle this long (capture time) is closed. @default 120 s */
  readonly idleTimeoutMicros: number;
  /** A flow open this long is reported and continues in a new record. @default 30 min */
  readonly activeTimeoutMicros: number;
  /** A UDP flow idle this long is closed (Zeek's udp_inactivity_timeout). @default 60 s */
  readonly udpIdleTimeoutMicros: number;
  /** Flows at most (open, lingering and reported); the oldest is evicted beyond. @default 100,000 */
  readonly maxFlows: number;
  /**
   * Closed flows (FIN/RST, answered DNS) kept whole while they linger; beyond, the oldest is
   * reported early and kept only as a tombstone that absorbs its late packets. @default 10,000
   */
  readonly maxLingeringFlows: number;
  /** Stream bytes buffered across all flows at most; the oldest flows are evicted beyond. @default 64 MiB */
  readonly maxBufferedBytes: number;
  /** Tombstones at most (about 100 bytes each); the oldest go first. @default 200,000 */
  readonly maxTombstones: number;
}

export const DEFAULT_LIMITS: FlowTableLimits = {
  clientStreamBytes: 256 * 1024,
  serverStreamBytes: 1024,
  tlsClientStreamBytes: 16 * 1024,
  otherStreamBytes: 4 * 1024,
  dnsStreamBytes: 64 * 1024,
  idleTimeoutMicros: 120 * 1_000_000,
  activeTimeoutMicros: 30 * 60 * 1_000_000,
  udpIdleTimeoutMicros: 60 * 1_000_000,
  maxFlows: 100_000,
  maxLingeringFlows: 10_000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxTombstones: 200_000,
};

/** Limits of one of `threads` flow tables sharing a probe's memory bound (worker threads). */
export function limitsPerTable(threads: number, limits: FlowTableLimits = DEFAULT_LIMITS): FlowTableLimits {
  const share = (n: number) => Math.max(1, Math.floor(n / threads));
  return {
    ...limits,
    maxFlows: share(limits.maxFlows),
    maxLingeringFlows: share(limits.maxLingeringFlows),
    maxBufferedBytes: share(limits.maxBufferedBytes),
    maxTombstones: share(limits.maxTombstones),
  };
}

/**
 * A TCP flow that saw FIN from both sides (or RST) lingers this long, capture time, so its last ACK
 * and late FIN retransmissions count towards it instead of opening a phantom reversed flow (as
 * Suricata keeps them in one flow); a new SYN on the same 5-tuple ends the linger at once.
 */
export const CLOSE_LINGER_MICROS = 60 * 1_000_000;
const DNS_PORT = 53;
/** Addresses whose DNS name is remembered (about 100 bytes each), so a long capture stays bounded. */
export const MAX_DNS_NAMES = 200_000;

interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

interface FlowState extends IndexedFlow {
  readonly key: string;
  /** Index of the packet that opened it (`FlowTable.packetIndex`): orders records across tables. */
  readonly openIndex: number;
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
  /** Whether the client stream's first bytes were looked at to size what is kept. */
  clientSized: boolean;
  /** Decoded content, fixed when the flow closed (its stream buffers are released then). */
  content?: FlowContent | EncodedContent | undefined;
  /** App named by a PCAPdroid trailer. */
  app?: { uid: number; name?: string };
  serverFinished: boolean;
  clientFinished: boolean;
  end?: 'fin' | 'rst';
  closedAtMicros?: number;
  dnsQueries: { name: string; type: string }[];
  dnsAnswers: DnsAnswer[];
  /** First client datagram of a UDP flow (QUIC detection). */
  firstDatagram?: Buffer;
}

/** The record fields a flow's bytes fill: everything that is not counters, endpoints and names. */
type ContentFields = Pick<
  FlowRecord,
  'transport' | 'application' | 'tls' | 'http' | 'dns' | 'quic' | 'candidates' | 'limits'
>;

/**
 * A lingering flow's content as the JSON text its record will hold (records as JSON only): a few
 * hundred bytes of string instead of the object graph, for up to `maxLingeringFlows` flows.
 */
interface EncodedContent {
  /** The `names` members after `dns`. */
  readonly rest: string;
  /** `,"application":…` up to the last content member. */
  readonly members: string;
}

/** What a flow's bytes said: the record's content fields and the names they carry. */
interface FlowContent {
  readonly fields: ContentFields;
  readonly sni?: string;
  readonly httpHost?: string;
}

/** What a run's key material opened (counted only when the probe was given key material). */
export interface TlsDecryptStats {
  /** TLS flows whose ClientHello was seen. */
  flows: number;
  /** Of those, flows with at least one record decrypted. */
  decrypted: number;
  /** Of those, flows whose client random is in no key log. */
  withoutKeys: number;
  /** Flows that had keys but could not be decrypted, by reason. */
  readonly failures: Partial<Record<DecryptFailure, number>>;
  /** Records of decrypted flows that were skipped, by reason. */
  readonly skippedRecords: Partial<Record<DecryptFailure, number>>;
}

export const emptyTlsStats = (): TlsDecryptStats => ({
  flows: 0,
  decrypted: 0,
  withoutKeys: 0,
  failures: {},
  skippedRecords: {},
});

function addCounts(
  into: Partial<Record<DecryptFailure, number>>,
  from: Partial<Record<DecryptFailure, number>>,
) {
  for (const [reason, n] of Object.entries(from))
    into[reason as DecryptFailure] = (into[reason as DecryptFailure] ?? 0) + n;
}

/** Adds `from`'s counts to `into` (a parallel probe's tables). */
export function addTlsStats(into: TlsDecryptStats, from: TlsDecryptStats): void {
  into.flows += from.flows;
  into.decrypted += from.decrypted;
  into.withoutKeys += from.withoutKeys;
  addCounts(into.failures, from.failures);
  addCounts(into.skippedRecords, from.skippedRecords);
}

/** A stream that keeps nothing, shared by every flow whose buffers were released. */
const EMPTY_STREAM = new TcpStream(0);

/** How a flow that stopped lingering ended: FIN or RST for TCP, done (timeout) for an answered lookup. */
const endOf = (flow: { end?: 'fin' | 'rst'; protocol: 'tcp' | 'udp' }): FlowRecord['flow']['end'] =>
  flow.end ?? (flow.protocol === 'tcp' ? 'fin' : 'timeout');

/** A DNS query (QR bit clear) on a UDP packet to port 53. */
function isDnsQuery(view: PacketView): boolean {
  return (
    view.protocol === 17 &&
    view.dstPort === DNS_PORT &&
    view.payloadLength > 2 &&
    (view.data[view.payloadOffset + 2]! & 0x80) === 0
  );
}

/** Records as JSON text (the probe's sinks) instead of objects: made by `RecordEncoder`. */
export interface JsonOutput {
  readonly encoder: RecordEncoder;
  readonly emit: (line: string) => void;
}

/**
 * Records in parts, for a flow table in a worker thread: the DNS name of a flow's server is looked
 * up by the main thread (names learnt in any table count), so it gets the text before and after
 * `names` and the names learnt, in the order they happen.
 */
export interface PartsOutput {
  /** `mid`: from the flow id to the end of `flow` (and `app`); `fields`: the content members. */
  record(mid: string, serverIp: string, namesRest: string, fields: string): void;
  name(ip: string, name: string): void;
}

/**
 * Tracks flows by 5-tuple, decides client and server, reassembles both directions for
 * application decoding, and turns each flow into a schema v1 record when it closes, times out or
 * is evicted. Everything here is synchronous; records go to `emit` as they are made.
 */
export class FlowTable {
  /** Open flows in the order they were opened (sweeps and eviction walk it oldest first). */
  private readonly flows = new Set<FlowState>();
  private readonly index = new FlowIndex<FlowState>();
  /** Server IP → the name a DNS client asked for (the question, not the CNAME target). */
  private readonly namesByIp = new Map<string, string>();
  private lastSweepMicros = 0;
  /** Stamped on records as `probe.input`. */
  private inputFormat: FlowRecord['probe']['input'];
  private bufferedBytes = 0;
  evicted = 0;
  /** Packets that reached a flow already reported (under memory pressure) and were only counted. */
  latePackets = 0;
  /** Closed flows in the order they closed, for reporting the oldest early (a queue with a head). */
  private lingerQueue: FlowState[] = [];
  private lingerHead = 0;
  private lingering = 0;
  /** Flows reported early: only their 5-tuple, to absorb their late packets until the linger ends. */
  private readonly tombstones: Tombstones;
  private readonly limits: FlowTableLimits;

  constructor(
    private readonly context: LabContext,
    private readonly captureName: string,
    private readonly emit: (record: FlowRecord) => void,
    limits: Partial<FlowTableLimits> = {},
    private readonly json?: JsonOutput | PartsOutput,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.tombstones = new Tombstones(this.limits.maxTombstones);
  }

  get input(): FlowRecord['probe']['input'] {
    return this.inputFormat;
  }

  set input(input: FlowRecord['probe']['input']) {
    this.inputFormat = input;
    if (this.json && 'encoder' in this.json) this.json.encoder.input = input;
  }

  /** Index of the packet being added (a worker sets the capture-wide index; else unused). */
  packetIndex = 0;
  /** Whether `add` sweeps idle flows itself (a worker's table sweeps when the main thread says). */
  autoSweep = true;
  /** Called with a flow's `openIndex` before a sweep or the final flush closes it. */
  onClosing?: (openIndex: number) => void;
  /**
   * TLS secrets (key logs, pcapng secrets blocks): a TLS flow whose client random is here keeps its
   * client stream like HTTP and is decrypted when it closes. Unset: TLS is never decrypted.
   */
  keyLog?: TlsKeyLog;
  /** What the key log opened (meaningful when `keyLog` is set). */
  readonly tlsStats: TlsDecryptStats = emptyTlsStats();

  get openFlows(): number {
    return this.flows.size;
  }

  /** Adds one decoded TCP or UDP packet (the view is only read during the call). */
  add(view: PacketView): void {
    this.addPacket(view);
    const now = view.timestampMicros;
    if (this.autoSweep && now - this.lastSweepMicros >= 1_000_000) this.sweep(now);
  }

  private addPacket(view: PacketView): void {
    const now = view.timestampMicros;
    let flow = this.index.find(view);
    let toServer = this.index.toServer;
    if (!flow && this.tombstones.size > 0) {
      const tombstone = this.tombstones.find(view);
      if (tombstone >= 0) {
        const newConnection =
          view.protocol === 6
            ? view.tcpFlags & TCP_FLAG.syn && !(view.tcpFlags & TCP_FLAG.ack)
            : isDnsQuery(view);
        if (!newConnection) {
          this.latePackets++;
          return;
        }
        this.tombstones.delete(tombstone);
      }
    }
    if (
      flow?.closedAtMicros !== undefined &&
      view.tcpFlags & TCP_FLAG.syn &&
      !(view.tcpFlags & TCP_FLAG.ack)
    ) {
      // A new SYN on a closed flow's 5-tuple: port reuse, a new connection.
      this.close(flow, endOf(flow));
      flow = undefined;
    }
    if (
      flow &&
      flow.closedAtMicros === undefined &&
      now - flow.firstMicros > this.limits.activeTimeoutMicros
    ) {
      this.report(flow, 'active-timeout');
      this.restart(flow, now);
    }
    if (!flow) {
      if (this.flows.size >= this.limits.maxFlows) this.evictOldest();
      flow = this.open(view);
      toServer =
        flow.clientPort === view.srcPort &&
        flow.clientAddress === (view.ipVersion === 4 ? view.srcV4 : view.srcV6);
      this.flows.add(flow);
      this.index.insert(flow);
    }
    if (now > flow.lastMicros) flow.lastMicros = now;
    if (view.appUid >= 0 && !flow.app)
      flow.app = { uid: view.appUid, ...(view.appName ? { name: view.appName } : {}) };
    const payloadLength = view.payloadLength;
    if (toServer) {
      flow.packets.toServer++;
      flow.bytes.toServer += view.ipBytes;
      flow.payloadBytes.toServer += payloadLength;
    } else {
      flow.packets.toClient++;
      flow.bytes.toClient += view.ipBytes;
      flow.payloadBytes.toClient += payloadLength;
    }

    if (flow.protocol === 'udp') {
      if (payloadLength > 0) this.addDatagram(flow, view, toServer);
    } else {
      const flags = view.tcpFlags;
      const stream = toServer ? flow.clientStream : flow.serverStream;
      // Once closed, the content is decoded and fixed: late segments are counted, not kept.
      const keeping = flow.content === undefined;
      if (keeping && flags & TCP_FLAG.syn) stream.setInitialSequence(view.tcpSequence);
      if (keeping && payloadLength > 0) {
        const before = stream.bufferedBytes;
        stream.add(view.tcpSequence, view.data, view.payloadOffset, view.payloadEnd);
        this.bufferedBytes += stream.bufferedBytes - before;
        if (toServer && !flow.clientSized) this.sizeClientStream(flow);
      }
      if (flags & TCP_FLAG.fin) {
        if (toServer) flow.clientFinished = true;
        else flow.serverFinished = true;
      }
      if (flags & TCP_FLAG.rst) flow.end = 'rst';
      else if (flow.clientFinished && flow.serverFinished && !flow.end) flow.end = 'fin';
      if (flow.end && flow.closedAtMicros === undefined) this.markClosed(flow, now);
    }
    if (this.bufferedBytes > this.limits.maxBufferedBytes) this.evictOldest();
  }

  /** Advances capture time without a packet (live input): closes idle and lingering flows. */
  tick(nowMicros: number): void {
    this.sweep(nowMicros);
  }

  /** Emits every flow still open (end of capture), oldest first. */
  flushAll(): void {
    for (const flow of [...this.flows]) {
      this.onClosing?.(flow.openIndex);
      this.close(flow, flow.closedAtMicros !== undefined ? endOf(flow) : 'capture-end');
    }
  }

  private open(view: PacketView): FlowState {
    // The SYN sender is the client; a SYN-ACK seen first means the receiver is.
    const synAck = view.tcpFlags & TCP_FLAG.syn && view.tcpFlags & TCP_FLAG.ack;
    // A DNS response seen first (QR bit set) means its receiver asked: Zeek "flips" such flows too.
    const dnsResponse =
      view.protocol === 17 &&
      view.srcPort === DNS_PORT &&
      view.payloadLength > 2 &&
      (view.data[view.payloadOffset + 2]! & 0x80) !== 0;
    const reversed = Boolean(synAck) || dnsResponse;
    const v4 = view.ipVersion === 4;
    const srcAddress = v4 ? view.srcV4 : view.srcV6;
    const dstAddress = v4 ? view.dstV4 : view.dstV6;
    const src: Endpoint = { ip: view.sourceIp(), port: view.srcPort };
    const dst: Endpoint = { ip: view.destinationIp(), port: view.dstPort };
    const client = reversed ? dst : src;
    const server = reversed ? src : dst;
    const protocol = view.protocol === 6 ? 'tcp' : 'udp';
    const streams = this.streams(protocol, server.port, client.port);
    return {
      openIndex: this.packetIndex,
      key: `${protocol}|${client.ip}|${client.port}|${server.ip}|${server.port}`,
      protocol,
      protocolNumber: view.protocol,
      clientAddress: reversed ? dstAddress : srcAddress,
      clientPort: client.port,
      serverAddress: reversed ? srcAddress : dstAddress,
      serverPort: server.port,
      client,
      server,
      firstMicros: view.timestampMicros,
      lastMicros: view.timestampMicros,
      packets: { toServer: 0, toClient: 0 },
      bytes: { toServer: 0, toClient: 0 },
      payloadBytes: { toServer: 0, toClient: 0 },
      clientStream: streams.clientStream,
      serverStream: streams.serverStream,
      clientSized: false,
      serverFinished: false,
      clientFinished: false,
      dnsQueries: [],
      dnsAnswers: [],
    };
  }

  private streams(
    protocol: 'tcp' | 'udp',
    serverPort: number,
    clientPort: number,
  ): { clientStream: TcpStream; serverStream: TcpStream } {
    // UDP keeps no stream (DNS messages are decoded per datagram, QUIC from the first one).
    if (protocol === 'udp') return { clientStream: EMPTY_STREAM, serverStream: EMPTY_STREAM };
    const dns = serverPort === DNS_PORT || clientPort === DNS_PORT;
    return {
      clientStream: new TcpStream(dns ? this.limits.dnsStreamBytes : this.limits.clientStreamBytes),
      serverStream: new TcpStream(dns ? this.limits.dnsStreamBytes : this.limits.serverStreamBytes),
    };
  }

  /**
   * Once the client's first bytes are in, keep only what decoding needs: a TLS stream needs its
   * ClientHello, not the encrypted data after it; an unknown protocol needs little. HTTP keeps all.
   */
  private sizeClientStream(flow: FlowState): void {
    const head = flow.clientStream.head();
    if (!head) return;
    flow.clientSized = true;
    if (flow.serverPort === DNS_PORT || flow.clientPort === DNS_PORT) return;
    if (looksLikeTls(head)) {
      // With its keys, the client's records are decrypted when the flow closes: keep them like HTTP.
      const random = this.keyLog?.connections ? clientRandom(head) : null;
      if (!random || !this.keyLog!.lookup(random))
        flow.clientStream.setLimit(this.limits.tlsClientStreamBytes);
      return;
    }
    // Only TLS needs server bytes (its ServerHello); an HTTP response or unknown reply is not read.
    this.bufferedBytes -= flow.serverStream.bufferedBytes;
    flow.serverStream = new TcpStream(0);
    if (!looksLikeHttpRequest(head)) flow.clientStream.setLimit(this.limits.otherStreamBytes);
  }

  /** Starts a new record for a flow that continues after an active timeout. */
  private restart(flow: FlowState, nowMicros: number): void {
    this.bufferedBytes -= flow.clientStream.bufferedBytes + flow.serverStream.bufferedBytes;
    flow.firstMicros = nowMicros;
    flow.lastMicros = nowMicros;
    flow.packets = { toServer: 0, toClient: 0 };
    flow.bytes = { toServer: 0, toClient: 0 };
    flow.payloadBytes = { toServer: 0, toClient: 0 };
    Object.assign(flow, this.streams(flow.protocol, flow.serverPort, flow.clientPort));
    flow.clientSized = false;
    flow.dnsQueries = [];
    flow.dnsAnswers = [];
    delete flow.firstDatagram;
  }

  private addDatagram(flow: FlowState, view: PacketView, toServer: boolean): void {
    if (flow.serverPort === DNS_PORT || flow.clientPort === DNS_PORT) {
      this.addDnsMessage(flow, view.payload());
      // An answered lookup is done: it lingers for retransmissions like a closed TCP flow.
      if (flow.dnsAnswers.length > 0 || (flow.dnsQueries.length > 0 && !isDnsQuery(view))) {
        if (flow.closedAtMicros === undefined) this.markClosed(flow, view.timestampMicros);
      }
      return;
    }
    if (toServer && !flow.firstDatagram)
      flow.firstDatagram = Buffer.from(
        view.data.subarray(view.payloadOffset, Math.min(view.payloadEnd, view.payloadOffset + 64)),
      );
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
      if (asked && (answer.type === 'A' || answer.type === 'AAAA')) this.rememberName(answer.value, asked);
    }
  }

  /** Remembers the newest name for an address; the oldest entries go beyond MAX_DNS_NAMES. */
  private rememberName(ip: string, name: string): void {
    if (this.json && !('encoder' in this.json)) {
      this.json.name(ip, name);
      return;
    }
    rememberIn(this.namesByIp, ip, name);
  }

  /**
   * A flow that ended (FIN/RST, answered DNS) keeps counting packets while it lingers; its content
   * is decoded now and its buffers freed. Beyond `maxLingeringFlows`, the oldest is reported early.
   */
  private markClosed(flow: FlowState, now: number): void {
    flow.closedAtMicros = now;
    if (flow.protocol === 'tcp') {
      const content = this.describeContent(flow);
      flow.content = this.json ? encodeContent(content) : content;
      this.bufferedBytes -= flow.clientStream.bufferedBytes + flow.serverStream.bufferedBytes;
      flow.clientStream = EMPTY_STREAM;
      flow.serverStream = EMPTY_STREAM;
    }
    this.lingerQueue.push(flow);
    this.lingering++;
    if (this.lingering > this.limits.maxLingeringFlows) this.reportOldestLingering();
  }

  private reportOldestLingering(): void {
    while (this.lingerHead < this.lingerQueue.length) {
      const flow = this.lingerQueue[this.lingerHead++]!;
      if (flow.closedAtMicros === undefined || !this.flows.has(flow)) continue;
      this.close(flow, endOf(flow));
      this.tombstones.add(flow, flow.closedAtMicros);
      break;
    }
    if (this.lingerHead > 4096 && this.lingerHead * 2 > this.lingerQueue.length) {
      this.lingerQueue = this.lingerQueue.slice(this.lingerHead);
      this.lingerHead = 0;
    }
  }

  private sweep(nowMicros: number): void {
    this.lastSweepMicros = nowMicros;
    this.tombstones.expire(nowMicros, CLOSE_LINGER_MICROS);
    // Deleting the entry being visited is safe in a Set's iteration.
    for (const flow of this.flows) {
      const idle = flow.protocol === 'udp' ? this.limits.udpIdleTimeoutMicros : this.limits.idleTimeoutMicros;
      if (flow.closedAtMicros !== undefined && nowMicros - flow.closedAtMicros > CLOSE_LINGER_MICROS) {
        this.onClosing?.(flow.openIndex);
        this.close(flow, endOf(flow));
      } else if (nowMicros - flow.lastMicros > idle) {
        this.onClosing?.(flow.openIndex);
        this.close(flow, 'timeout');
      }
    }
    this.trimLingerQueue();
  }

  private evictOldest(): void {
    // Map order is insertion order: the first entries are the flows opened longest ago.
    for (const flow of this.flows) {
      this.close(flow, 'evicted');
      this.evicted++;
      if (this.flows.size < this.limits.maxFlows && this.bufferedBytes <= this.limits.maxBufferedBytes / 2)
        return;
    }
  }

  private close(flow: FlowState, end: FlowRecord['flow']['end']): void {
    this.flows.delete(flow);
    this.index.delete(flow);
    if (flow.closedAtMicros !== undefined) this.lingering--;
    this.report(flow, end);
    this.bufferedBytes -= flow.clientStream.bufferedBytes + flow.serverStream.bufferedBytes;
    // Reported: the linger queue may still point at the flow until its head passes; not at its content.
    flow.content = undefined;
  }

  /**
   * Drops the linger queue's head entries of flows already reported (a sweep reports lingering flows
   * without going through the queue): without this the queue kept every flow closed since the last
   * time the lingering limit bit, and with it each flow's content (issue 19: the heap grew by the
   * decrypted content of every flow, 9 to 124 MB over a 200 MB capture).
   */
  private trimLingerQueue(): void {
    const queue = this.lingerQueue;
    while (this.lingerHead < queue.length && !this.flows.has(queue[this.lingerHead]!)) this.lingerHead++;
    if (this.lingerHead === queue.length) {
      this.lingerQueue = [];
      this.lingerHead = 0;
    } else if (this.lingerHead > 4096 && this.lingerHead * 2 > queue.length) {
      this.lingerQueue = queue.slice(this.lingerHead);
      this.lingerHead = 0;
    }
  }

  private report(flow: FlowState, end: FlowRecord['flow']['end']): void {
    const json = this.json;
    if (!json) {
      this.emit(this.toRecord(flow, end));
      return;
    }
    const content = flow.content ?? this.describeContent(flow);
    const { rest, members } = 'members' in content ? content : encodeContent(content);
    const mid = this.flowJson(flow, end);
    if ('encoder' in json) {
      // The record `toRecord` makes, as its `JSON.stringify` text (with the run's id).
      const names = namesJson(this.namesByIp.get(flow.server.ip), rest);
      json.emit(`${json.encoder.head}${mid}${names}${members}${json.encoder.tail}`);
    } else json.record(mid, flow.server.ip, rest, members);
  }

  /** From the flow id (after `"id":"`) to the end of the `flow` member, and `app` when known. */
  private flowJson(flow: FlowState, end: FlowRecord['flow']['end']): string {
    const id = flowId(this.context.session.id, flow.key, flow.firstMicros);
    const { packets, bytes, payloadBytes, client, server } = flow;
    // Addresses are formatted by the probe (digits, hex, '.' and ':'): nothing to escape.
    const text = `${id}","protocol":"${flow.protocol}","client":{"ip":"${client.ip}","port":${client.port}},"server":{"ip":"${server.ip}","port":${server.port}},"startedAt":"${isoOfMicros(flow.firstMicros)}","endedAt":"${isoOfMicros(flow.lastMicros)}","packets":{"toServer":${packets.toServer},"toClient":${packets.toClient}},"bytes":{"toServer":${bytes.toServer},"toClient":${bytes.toClient}},"payloadBytes":{"toServer":${payloadBytes.toServer},"toClient":${payloadBytes.toClient}},"end":"${end}"}`;
    return flow.app ? `${text},"app":${JSON.stringify(flow.app)}` : text;
  }

  private toRecord(flow: FlowState, end: FlowRecord['flow']['end']): FlowRecord {
    const { context } = this;
    const id = flowId(context.session.id, flow.key, flow.firstMicros);
    const content = flow.content ?? this.describeContent(flow);
    if ('members' in content) throw new Error('a flow table making objects never encodes content');
    const { sni, httpHost } = content;
    let { fields } = content;
    const bytes = Buffer.byteLength(JSON.stringify(fields));
    if (bytes > MAX_CONTENT_JSON_BYTES) fields = fitContent(fields, bytes);
    const dns = this.namesByIp.get(flow.server.ip);
    return {
      schemaVersion: FLOW_RECORD_SCHEMA_VERSION,
      device: context.device,
      firmware: context.firmware,
      session: context.session,
      flow: {
        id,
        protocol: flow.protocol,
        client: flow.client,
        server: flow.server,
        startedAt: isoOfMicros(flow.firstMicros),
        endedAt: isoOfMicros(flow.lastMicros),
        packets: { ...flow.packets },
        bytes: { ...flow.bytes },
        payloadBytes: { ...flow.payloadBytes },
        end,
      },
      ...(flow.app ? { app: flow.app } : {}),
      names: { ...(dns ? { dns } : {}), ...(sni ? { sni } : {}), ...(httpHost ? { httpHost } : {}) },
      ...fields,
      probe: {
        version: PROBE_VERSION,
        capture: this.captureName,
        ...(this.inputFormat ? { input: this.inputFormat } : {}),
      },
    };
  }

  /** Decodes the application layer from the kept stream bytes (DNS, TLS, HTTP, QUIC). */
  private describeContent(flow: FlowState): FlowContent {
    const { sni, httpHost, ...fields } = this.describeFields(flow);
    return { fields, ...(sni ? { sni } : {}), ...(httpHost ? { httpHost } : {}) };
  }

  private describeFields(flow: FlowState): ContentFields & { sni?: string; httpHost?: string } {
    const client = flow.clientStream.assemble();
    const server = flow.serverStream.assemble();
    const clientBytes = client.runs[0] ?? Buffer.alloc(0);
    const serverBytes = server.runs[0] ?? Buffer.alloc(0);
    if (flow.protocol === 'tcp' && (flow.serverPort === DNS_PORT || flow.clientPort === DNS_PORT)) {
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
      return {
        application: 'dns',
        transport: 'plaintext',
        dns: { queries: flow.dnsQueries, answers: flow.dnsAnswers },
        candidates: [],
      };
    }
    if (looksLikeTls(clientBytes)) {
      const hello = parseClientHello(clientBytes);
      const negotiated = parseServerHelloVersion(serverBytes);
      const content: ContentFields = { application: 'tls', transport: 'tls', candidates: [] };
      const inside = hello ? this.decryptTls(clientBytes, serverBytes, flow, client.gapBytes) : undefined;
      if (hello) {
        return {
          ...content,
          ...inside?.fields,
          tls: {
            version: negotiated ?? hello.version,
            offeredVersion: hello.version,
            ...(hello.sni ? { sni: hello.sni } : {}),
            ...(hello.alpn ? { alpn: hello.alpn.slice(0, 16) } : {}),
            ...(hello.ech ? { ech: true } : {}),
            ...(inside ? { decrypted: true, suite: inside.suite } : {}),
          },
          ...(hello.sni ? { sni: hello.sni } : {}),
          ...(inside?.httpHost ? { httpHost: inside.httpHost } : {}),
        };
      }
      return negotiated ? { ...content, tls: { version: negotiated } } : content;
    }
    if (looksLikeHttpRequest(clientBytes)) {
      // Only for HTTP is a cut a loss (requests not seen); TLS ciphertext is left unkept on purpose.
      return this.describeHttp(clientBytes, flow.clientStream.droppedBytes + client.gapBytes);
    }
    if (flow.firstDatagram) {
      const quic = parseQuicLongHeader(flow.firstDatagram);
      if (quic)
        return { application: 'quic', transport: 'quic', quic: { version: quic.version }, candidates: [] };
    }
    return { application: 'other', transport: 'unknown', candidates: [] };
  }

  /**
   * The requests inside a TLS flow whose secrets are in the key log (counted in `tlsStats`):
   * decrypted client records, then HTTP/1.x as in a plaintext flow. Undefined without keys or
   * when no record could be decrypted.
   */
  private decryptTls(
    clientBytes: Buffer,
    serverBytes: Buffer,
    flow: FlowState,
    gapBytes: number,
  ): { fields: Partial<ContentFields>; suite: string; httpHost?: string } | undefined {
    const keyLog = this.keyLog;
    if (!keyLog) return undefined;
    const stats = this.tlsStats;
    stats.flows++;
    // No key material yet (the common case): nothing to look up.
    const random = keyLog.connections > 0 ? clientRandom(clientBytes) : null;
    const secrets = random ? keyLog.lookup(random) : undefined;
    if (!secrets) {
      stats.withoutKeys++;
      return undefined;
    }
    const result = decryptClient(clientBytes, serverBytes, secrets);
    if ('failure' in result) {
      addCounts(stats.failures, { [result.failure]: 1 });
      return undefined;
    }
    addCounts(stats.skippedRecords, result.failures);
    if (result.records === 0) {
      // Keys for this connection, yet not one record opened: keys of another connection, or corrupt.
      addCounts(stats.failures, { 'authentication-failed': 1 });
      return undefined;
    }
    stats.decrypted++;
    const suite = result.suite;
    if (!looksLikeHttpRequest(result.plaintext)) return { fields: {}, suite };
    const { httpHost, application, http, candidates, limits } = this.describeHttp(
      result.plaintext,
      flow.clientStream.droppedBytes + gapBytes,
    );
    return {
      fields: { application, http, candidates, ...(limits ? { limits } : {}) },
      suite,
      ...(httpHost ? { httpHost } : {}),
    };
  }

  private describeHttp(
    stream: Buffer,
    droppedBytes: number,
  ): ContentFields & { sni?: string; httpHost?: string } {
    const limits: NonNullable<FlowRecord['limits']> = {};
    if (droppedBytes > 0) limits.streamBytesDropped = droppedBytes;
    const { requests, unparsedBytes } = parseHttpRequests(stream, MAX_HTTP_REQUESTS_PER_FLOW + 1);
    // HTTP/2: from the start (prior knowledge, ALPN h2 inside TLS) or after an h2c upgrade request.
    const h2Start = stream.length - unparsedBytes;
    if (requests.length <= MAX_HTTP_REQUESTS_PER_FLOW && startsWithHttp2Preface(stream.subarray(h2Start))) {
      const h2 = parseHttp2Requests(
        stream.subarray(h2Start),
        MAX_HTTP_REQUESTS_PER_FLOW + 1 - requests.length,
      );
      requests.push(...h2.requests);
      if (h2.problem) limits.http2Stopped = h2.problem.slice(0, 256);
    }
    if (requests.length > MAX_HTTP_REQUESTS_PER_FLOW) {
      limits.httpRequestsDropped = requests.length - MAX_HTTP_REQUESTS_PER_FLOW;
      requests.length = MAX_HTTP_REQUESTS_PER_FLOW;
    }
    const http: HttpRequestInfo[] = [];
    const candidates: Candidate[] = [];
    let candidatesDropped = 0;
    requests.forEach((request, index) => {
      http.push(summariseRequest(request));
      const found = extractCandidates(request, index, MAX_CANDIDATES_PER_FLOW - candidates.length);
      candidates.push(...found.candidates);
      candidatesDropped += found.dropped;
    });
    if (candidatesDropped > 0) limits.candidatesDropped = candidatesDropped;
    return {
      application: 'http',
      transport: 'plaintext',
      http,
      candidates,
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(http[0]?.host ? { httpHost: http[0].host } : {}),
    };
  }
}

function encodeContent(content: FlowContent): EncodedContent {
  let fields = JSON.stringify(content.fields);
  if (fields.length > MAX_CONTENT_JSON_BYTES / 3 && Buffer.byteLength(fields) > MAX_CONTENT_JSON_BYTES)
    fields = JSON.stringify(fitContent(content.fields, Buffer.byteLength(fields)));
  return {
    rest: namesAfterDns(content.sni, content.httpHost),
    members: fields.length > 2 ? `,${fields.slice(1, -1)}` : '',
  };
}

/**
 * A record's content (everything but its flow, names and lab context, a few KB at most) is kept under
 * this many bytes of JSON, so the record stays under Kinesis's 1 MiB (PutRecords) with room to spare.
 */
export const MAX_CONTENT_JSON_BYTES = 900 * 1024;

/**
 * Content fields cut to fit MAX_CONTENT_JSON_BYTES (issue 20: a device's large DNS answer or
 * escaped binary values made a 1.23 MB record, which aborted a run into Kinesis): DNS lists first,
 * then long request targets and user agents, then candidates from the last (the first are kept),
 * then requests; what was cut is counted in `limits` (`recordBytesCut`: bytes of JSON removed).
 */
export function fitContent(fields: ContentFields, bytes: number): ContentFields {
  const size = (f: ContentFields) => Buffer.byteLength(JSON.stringify(f));
  let fitted: ContentFields = { ...fields, limits: { ...(fields.limits ?? {}) } };
  const steps: ((f: ContentFields) => ContentFields)[] = [
    (f) =>
      f.dns ? { ...f, dns: { queries: f.dns.queries.slice(0, 16), answers: f.dns.answers.slice(0, 16) } } : f,
    (f) =>
      f.http
        ? {
            ...f,
            http: f.http.map((h) => ({
              ...h,
              target: h.target.slice(0, 1024),
              ...(h.userAgent ? { userAgent: h.userAgent.slice(0, 256) } : {}),
            })),
          }
        : f,
  ];
  for (const step of steps) {
    if (size(fitted) <= MAX_CONTENT_JSON_BYTES) break;
    fitted = step(fitted);
  }
  if (size(fitted) > MAX_CONTENT_JSON_BYTES) {
    // Keep the longest prefix of candidates that fits (binary search on their count).
    const all = fitted.candidates;
    let low = 0;
    let high = all.length;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (size({ ...fitted, candidates: all.slice(0, mid) }) <= MAX_CONTENT_JSON_BYTES) low = mid;
      else high = mid - 1;
    }
    if (low < all.length) {
      const limits = fitted.limits!;
      fitted = {
        ...fitted,
        candidates: all.slice(0, low),
        limits: { ...limits, candidatesDropped: (limits.candidatesDropped ?? 0) + all.length - low },
      };
    }
  }
  while (size(fitted) > MAX_CONTENT_JSON_BYTES && fitted.http && fitted.http.length > 0) {
    const limits = fitted.limits!;
    fitted = {
      ...fitted,
      http: fitted.http.slice(0, -1),
      limits: { ...limits, httpRequestsDropped: (limits.httpRequestsDropped ?? 0) + 1 },
    };
  }
  fitted.limits!.recordBytesCut = bytes - size(fitted);
  return fitted;
}

/** Remembers the newest name for an address; the oldest entries go beyond MAX_DNS_NAMES. */
export function rememberIn(namesByIp: Map<string, string>, ip: string, name: string): void {
  namesByIp.delete(ip);
  namesByIp.set(ip, name);
  if (namesByIp.size > MAX_DNS_NAMES) {
    const oldest = namesByIp.keys().next().value;
    if (oldest !== undefined) namesByIp.delete(oldest);
  }
}
