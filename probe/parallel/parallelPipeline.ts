import { Worker } from 'node:worker_threads';
import type { LabContext } from '../../schema/flowRecord.ts';
import type { CapturedPacket } from '../capture/capturedPacket.ts';
import { PacketDecoder } from '../decode/packet.ts';
import { SkipCounter } from '../decode/skipReasons.ts';
import { ProbeWorkerError } from '../errors.ts';
import { tupleHash } from '../flowIndex.ts';
import { addTlsStats, emptyTlsStats, rememberIn, type TlsDecryptStats } from '../flowTable.ts';
import type { JsonRecordOutput, ProbeInput } from '../pipeline.ts';
import { RecordEncoder } from '../recordJson.ts';
import { type KeyLogEntries, TlsKeyLog } from '../tls/keyLog.ts';
import { EVENT, type EventBatch, EventReader } from './eventWire.ts';
import { FlowTableHost } from './flowTableHost.ts';
import type { FlowWorkerData, FlowWorkerMessage } from './flowWorkerHost.ts';
import { WireWriter } from './packetWire.ts';

/** Chunks handed to the workers and not merged yet, at most (each about 1 MiB of capture). */
const MAX_CHUNKS_IN_FLIGHT = 2;

/** A worker's old-generation limit: the same as the bin's --max-old-space-size (see below). */
export const WORKER_OLD_GENERATION_MB = 192;

/**
 * The flow index's direction-independent 5-tuple hash (either direction of a flow lands on the same
 * table), its bits mixed once more so that taking it modulo a few buckets spreads flows evenly.
 */
function flowHash(view: PacketDecoder['view']): number {
  const v4 = view.ipVersion === 4;
  let h = tupleHash(
    view.protocol,
    v4 ? view.srcV4 : view.srcV6,
    view.srcPort,
    v4 ? view.dstV4 : view.dstV6,
    view.dstPort,
  );
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A flow-table worker thread, with the replies it owes and the text buffers to hand back to it. */
interface Remote {
  readonly worker: Worker;
  /** Replies it owes, in the order the messages were sent. */
  readonly waiting: { resolve: (batch: EventBatch) => void; reject: (error: Error) => void }[];
  /** Merged batches' text buffers, returned with its next chunk. */
  readonly spareText: Uint8Array[];
}

/**
 * Shares of the flows: the reading thread's own table takes LOCAL_WEIGHT parts, each worker
 * WORKER_WEIGHT (reading, decoding and merging take the reading thread about a third of the work
 * one thread does alone, so it keeps a smaller share; with 2 threads on 2 cores, 1:2 measured
 * best of 1:1, 1:2 and 1:3 on both bench captures).
 */
const LOCAL_WEIGHT = 1;
const WORKER_WEIGHT = 2;

/**
 * The probe on `threads` cores: this thread reads and decodes packets (fragments reassembled, skips
 * counted) and hands each to the flow table that owns its flow by a symmetric 5-tuple hash: one of
 * `threads - 1` worker threads, or its own (a smaller share). It tells every table where the
 * single-threaded table would sweep idle flows. Each table (the limits shared out) returns its
 * records in parts; this thread merges them by the position in the capture at which each was made,
 * adds the DNS name of the server (names learnt by any table count, in capture order) and the run's
 * constant head and tail, and writes them. The records and their order are those of one thread,
 * unless a table's share of the limits bites (more than 100,000 open flows, 10,000 lingering,
 * 64 MiB of stream buffers, probe-wide).
 */
export class ParallelPipeline {
  packets = 0;
  flows = 0;
  readonly skipped = new SkipCounter();
  private readonly decoder = new PacketDecoder();
  /** Table 0, in this thread. */
  private readonly local: FlowTableHost;
  /** Tables 1 … threads − 1: table i is remotes[i − 1]. */
  private readonly remotes: Remote[] = [];
  /** Per table, the packets read for it since the last chunk. */
  private readonly writers: WireWriter[] = [];
  /** Hash buckets: LOCAL_WEIGHT for this thread's table, then WORKER_WEIGHT per worker. */
  private readonly buckets: number;
  private readonly inFlight: Promise<EventBatch[]>[] = [];
  private readonly encoder: RecordEncoder;
  private readonly namesByIp = new Map<string, string>();
  private readonly head: Buffer;
  private tail: Buffer;
  private lastSweepMicros = 0;
  /** Where a record is composed; the sink copies it before the next one (FlowSink.writeJson). */
  private scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private failure: Error | undefined;
  /** Set once the pipeline stops its workers itself (their exit is then expected). */
  private stopping = false;
  lastPacketMicros = 0;
  /** What the key material opened, every table's counts added at the end. */
  readonly tlsStats: TlsDecryptStats = emptyTlsStats();
  /** Secrets read from the capture, for the workers with their next chunk. */
  private pendingSecrets: KeyLogEntries = [];

  constructor(
    context: LabContext,
    captureName: string,
    private readonly output: JsonRecordOutput,
    /** Flow tables (threads) reading the capture. */
    readonly tables: number,
    /** TLS secrets: this thread's table uses it; workers get a copy of its entries. */
    readonly keyLog: TlsKeyLog = new TlsKeyLog(),
  ) {
    this.encoder = new RecordEncoder(context, captureName, output.run);
    this.head = Buffer.from(this.encoder.head);
    this.tail = Buffer.from(this.encoder.tail);
    const data: FlowWorkerData = { context, captureName, tables, secrets: keyLog.entries() };
    this.local = new FlowTableHost(context, captureName, tables, keyLog);
    this.writers.push(new WireWriter());
    this.buckets = LOCAL_WEIGHT + WORKER_WEIGHT * (tables - 1);
    for (let i = 1; i < tables; i++) {
      const worker = new Worker(new URL('./flowWorker.mjs', import.meta.url), {
        workerData: data,
        // Young generations share 16 MB (8 MB cost a worker a fifth more time in GC). The old
        // generation's limit is the bin's --max-old-space-size=192: V8 applies that flag to every
        // isolate of the process, overriding a worker's own limit, so this only makes a direct
        // `node bin/leakwatch.js` run (no flag) behave like the installed one. A tighter limit
        // (32 MB) made a worker holding ~25 MB of live flows mark-compact continuously: 2 threads
        // took 17-21 s instead of 7 s on the 200 MB short-flow capture. Peak RSS of the whole probe
        // with 2 threads: 230-245 MB there (bench:probe).
        resourceLimits: {
          maxOldGenerationSizeMb: WORKER_OLD_GENERATION_MB,
          maxYoungGenerationSizeMb: Math.max(8, Math.floor(16 / (tables - 1))),
        },
      });
      const remote: Remote = { worker, waiting: [], spareText: [] };
      const queue = remote.waiting;
      worker.on('message', (batch: EventBatch) => queue.shift()?.resolve(batch));
      const fail = (cause: Error) => {
        const error =
          cause instanceof ProbeWorkerError
            ? cause
            : new ProbeWorkerError(`probe worker ${i} failed: ${cause.message}`, { cause });
        this.failure ??= error;
        for (const waiter of queue.splice(0)) waiter.reject(error);
      };
      worker.on('error', fail);
      // A worker that ends before the pipeline stops it fails the run: work sent to it later, or
      // still owed by it, would wait for ever.
      worker.on('exit', (code) => {
        if (!this.stopping)
          fail(new ProbeWorkerError(`probe worker ${i} exited (code ${code}) before the capture ended`));
      });
      this.remotes.push(remote);
      this.writers.push(new WireWriter());
    }
  }

  set input(input: ProbeInput) {
    this.encoder.input = input;
    this.tail = Buffer.from(this.encoder.tail);
  }

  /** A key log read from the capture (a pcapng secrets block): every table gets it before its next packets. */
  addSecrets(text: string, source: string): void {
    const added = this.keyLog.addText(text, source);
    if (added.size > 0) this.pendingSecrets.push(...this.keyLog.entries(added));
  }

  get flowsSeen(): number {
    return this.flows;
  }

  add(packet: CapturedPacket): void {
    const index = this.packets++;
    const now = packet.timestampMicros;
    if (now > this.lastPacketMicros) this.lastPacketMicros = now;
    const decoder = this.decoder;
    const decoded = decoder.decodeCaptured(packet);
    if (decoded !== 'ok') {
      if (decoded !== 'held') this.skipped.add(decoded);
      return;
    }
    const writers = this.writers;
    const bucket = flowHash(decoder.view) % this.buckets;
    const table = bucket < LOCAL_WEIGHT ? 0 : 1 + Math.floor((bucket - LOCAL_WEIGHT) / WORKER_WEIGHT);
    writers[table]!.packet(decoder.view, index);
    // Where FlowTable.add would sweep: after a packet a second (capture time) past the last sweep.
    if (now - this.lastSweepMicros >= 1_000_000) {
      this.lastSweepMicros = now;
      for (const writer of writers) writer.sweep(index, now);
    }
  }

  private send(
    remote: Remote,
    message: FlowWorkerMessage,
    transfer: ArrayBuffer[] = [],
  ): Promise<EventBatch> {
    return new Promise<EventBatch>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      remote.waiting.push({ resolve, reject });
      remote.worker.postMessage(message, transfer);
    });
  }

  /**
   * Hands the packets read so far to the workers, runs this thread's share meanwhile, and merges and
   * writes what the tables have returned for older chunks.
   */
  async drain(): Promise<void> {
    const secrets = this.pendingSecrets.length > 0 ? this.pendingSecrets.splice(0) : undefined;
    const replies = this.remotes.map((remote, i) => {
      const bytes = this.writers[i + 1]!.take();
      const spare = remote.spareText.splice(0);
      return this.send(remote, { type: 'chunk', bytes, spare, ...(secrets ? { secrets } : {}) }, [
        bytes.buffer as ArrayBuffer,
        ...spare.map((text) => text.buffer as ArrayBuffer),
      ]);
    });
    const own = this.writers[0]!.take();
    const batch = this.local.chunk(own);
    this.writers[0]!.recycle(own);
    this.track(Promise.all([batch, ...replies]));
    while (this.inFlight.length > MAX_CHUNKS_IN_FLIGHT) await this.mergeOldest();
  }

  /** Queues a chunk's replies; a failure is seen when that chunk is merged (not as unhandled). */
  private track(replies: Promise<EventBatch[]>): void {
    replies.catch(() => undefined);
    this.inFlight.push(replies);
  }

  /** Ends the capture: every worker flushes its flows; everything is merged and written. */
  async finish(): Promise<void> {
    try {
      await this.drain();
      const replies = this.remotes.map((remote) => this.send(remote, { type: 'finish' }));
      this.track(Promise.all([this.local.finish(), ...replies]));
      while (this.inFlight.length > 0) await this.mergeOldest();
    } finally {
      await this.abort();
    }
  }

  /** Stops the workers (without writing what they hold, when the run failed). */
  async abort(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.remotes.map((remote) => remote.worker.terminate()));
  }

  private async mergeOldest(): Promise<void> {
    const batches = await this.inFlight.shift()!;
    batches.forEach((batch, i) => {
      if (batch.wire) this.writers[i]!.recycle(batch.wire);
      if (batch.tls) addTlsStats(this.tlsStats, batch.tls);
    });
    const readers = batches.map((batch) => new EventReader(batch));
    while (true) {
      // The event placed first in the capture (few workers: a scan beats a heap).
      let next: EventReader | undefined;
      for (const reader of readers) {
        if (reader.done) continue;
        if (
          !next ||
          reader.primary < next.primary ||
          (reader.primary === next.primary && reader.secondary < next.secondary)
        )
          next = reader;
      }
      if (!next) break;
      if (next.batch.kinds[next.index] === EVENT.name) {
        const ip = next.string();
        rememberIn(this.namesByIp, ip, next.string());
      } else {
        this.flows++;
        await this.output.writeJson(this.record(next));
      }
      next.index++;
    }
    // The texts are merged (records copied out): back to their workers for the next chunks.
    batches.forEach((batch, i) => {
      if (i === 0) this.local.recycle(batch.text);
      else if (this.remotes[i - 1]!.spareText.length < 2) this.remotes[i - 1]!.spareText.push(batch.text);
    });
  }

  /** head + mid + names + members + tail, the bytes `JSON.stringify` of the record would give. */
  private record(reader: EventReader): Buffer {
    const text = reader.text;
    const [midStart, midEnd] = reader.range();
    const serverIp = reader.string();
    const [restStart, restEnd] = reader.range();
    const [membersStart, membersEnd] = reader.range();
    const dns = this.namesByIp.get(serverIp);
    const names =
      dns === undefined
        ? ',"names":{'
        : `,"names":{"dns":${JSON.stringify(dns)}${restEnd > restStart ? ',' : ''}`;
    const namesBytes = Buffer.byteLength(names);
    const size =
      this.head.length +
      (midEnd - midStart) +
      namesBytes +
      (restEnd - restStart) +
      1 +
      (membersEnd - membersStart) +
      this.tail.length;
    if (size > this.scratch.length)
      this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * this.scratch.length));
    const out = this.scratch;
    let at = this.head.copy(out, 0);
    at += text.copy(out, at, midStart, midEnd);
    at += out.write(names, at, 'utf8');
    at += text.copy(out, at, restStart, restEnd);
    out[at++] = 0x7d; // }
    at += text.copy(out, at, membersStart, membersEnd);
    at += this.tail.copy(out, at);
    return out.subarray(0, at);
  }
}
