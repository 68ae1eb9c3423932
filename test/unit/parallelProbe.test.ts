import { readFileSync } from 'node:fs';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { PacketView } from '../../probe/decode/packetView.ts';
import { DEFAULT_LIMITS, limitsPerTable } from '../../probe/flowTable.ts';
import { EVENT, EventReader, EventWriter } from '../../probe/parallel/eventWire.ts';
import { ENTRY, WireReader, WireWriter } from '../../probe/parallel/packetWire.ts';
import { isoOfMicros } from '../../probe/recordJson.ts';
import { KinesisSink } from '../../probe/sinks/kinesisSink.ts';
import { NdjsonSink } from '../../probe/sinks/ndjsonSink.ts';
import { Tombstones } from '../../probe/tombstones.ts';

/** The fields FlowTable.add reads, as a comparable object. */
const seen = (v: PacketView) => ({
  timestampMicros: v.timestampMicros,
  ipVersion: v.ipVersion,
  protocol: v.protocol,
  tcpFlags: v.tcpFlags,
  srcPort: v.srcPort,
  dstPort: v.dstPort,
  tcpSequence: v.tcpSequence,
  ipBytes: v.ipBytes,
  addresses: v.ipVersion === 4 ? [v.srcV4, v.dstV4] : [v.srcV6, v.dstV6],
  app: v.appUid >= 0 ? [v.appUid, v.appName] : null,
  payload: v.payload().toString('hex'),
  sourceIp: v.sourceIp(),
  destinationIp: v.destinationIp(),
});

const arbitraryPacket = fc.record({
  timestampMicros: fc.integer({ min: 0, max: 2 ** 52 }),
  v6: fc.boolean(),
  v4: fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  v6Bytes: fc.tuple(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
  ),
  protocol: fc.constantFrom(6, 17),
  tcpFlags: fc.integer({ min: 0, max: 255 }),
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  tcpSequence: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  ipBytes: fc.integer({ min: 20, max: 2 ** 20 }),
  app: fc.option(fc.tuple(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.string({ maxLength: 20 }))),
  payload: fc.uint8Array({ maxLength: 3000 }),
  /** Bytes around the payload in the decoder's buffer, which the wire must not carry. */
  before: fc.integer({ min: 0, max: 60 }),
});

type ArbitraryPacket = typeof arbitraryPacket extends fc.Arbitrary<infer T> ? T : never;

function viewOf(p: ArbitraryPacket): PacketView {
  const view = new PacketView();
  view.timestampMicros = p.timestampMicros;
  view.ipVersion = p.v6 ? 6 : 4;
  [view.srcV4, view.dstV4] = p.v4;
  view.srcV6 = Buffer.from(p.v6Bytes[0]).toString('latin1');
  view.dstV6 = Buffer.from(p.v6Bytes[1]).toString('latin1');
  view.protocol = p.protocol;
  view.tcpFlags = p.tcpFlags;
  view.srcPort = p.srcPort;
  view.dstPort = p.dstPort;
  view.tcpSequence = p.tcpSequence;
  view.ipBytes = p.ipBytes;
  view.appUid = p.app ? p.app[0] : -1;
  view.appName = p.app ? p.app[1] : '';
  view.data = Buffer.concat([Buffer.alloc(p.before, 0xee), Buffer.from(p.payload), Buffer.alloc(7, 0xee)]);
  view.payloadOffset = p.before;
  view.payloadEnd = p.before + p.payload.length;
  return view;
}

describe('the wire between the reading thread and the flow-table workers', () => {
  it('gives a worker every field FlowTable.add reads, exactly, for any packet (and sweeps in order)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(arbitraryPacket, fc.boolean()), { maxLength: 40 }), (packets) => {
        const writer = new WireWriter();
        const expected: unknown[] = [];
        packets.forEach(([p, sweep], index) => {
          const view = viewOf(p);
          writer.packet(view, index);
          expected.push({ index, ...seen(view) });
          if (sweep) {
            writer.sweep(index, p.timestampMicros + 1);
            expected.push({ index, sweep: p.timestampMicros + 1 });
          }
        });
        const reader = new WireReader(writer.take());
        const got: unknown[] = [];
        for (let kind = reader.next(); kind !== 0; kind = reader.next())
          got.push(
            kind === ENTRY.packet
              ? { index: reader.index, ...seen(reader.view) }
              : { index: reader.index, sweep: reader.sweepMicros },
          );
        expect(got).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('reuses the buffers a worker hands back, and a recycled buffer starts empty', () => {
    const writer = new WireWriter();
    const view = viewOf({
      timestampMicros: 1,
      v6: false,
      v4: [1, 2],
      v6Bytes: [new Uint8Array(16), new Uint8Array(16)],
      protocol: 6,
      tcpFlags: 2,
      srcPort: 1,
      dstPort: 2,
      tcpSequence: 3,
      ipBytes: 40,
      app: null,
      payload: new Uint8Array([1, 2, 3]),
      before: 0,
    });
    writer.packet(view, 0);
    const first = writer.take();
    writer.recycle(first);
    writer.packet(view, 1);
    const second = writer.take();
    writer.packet(view, 2);
    const third = writer.take();
    expect(third.buffer).toBe(first.buffer);
    expect(second.buffer).not.toBe(first.buffer);
    const reader = new WireReader(third);
    expect(reader.next()).toBe(ENTRY.packet);
    expect(reader.index).toBe(2);
    expect(reader.next()).toBe(0);
  });

  it('brings events back with their sort keys and strings (any Unicode), in order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(EVENT.record, EVENT.name),
            fc.nat(),
            fc.nat(),
            fc.array(fc.string({ unit: 'grapheme', maxLength: 200 }), { minLength: 4, maxLength: 4 }),
          ),
          { maxLength: 50 },
        ),
        (events) => {
          const writer = new EventWriter();
          for (const [kind, primary, secondary, strings] of events) {
            writer.event(kind, primary, secondary);
            for (const s of strings.slice(0, kind === EVENT.record ? 4 : 2)) writer.string(s);
          }
          const reader = new EventReader(writer.take());
          for (const [kind, primary, secondary, strings] of events) {
            expect(reader.done).toBe(false);
            expect([reader.batch.kinds[reader.index], reader.primary, reader.secondary]).toEqual([
              kind,
              primary,
              secondary,
            ]);
            for (const s of strings.slice(0, kind === EVENT.record ? 4 : 2)) expect(reader.string()).toBe(s);
            reader.index++;
          }
          expect(reader.done).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('limits shared among flow tables', () => {
  it('gives each of N tables its share of the probe-wide bounds, so memory does not grow with threads', () => {
    const share = limitsPerTable(4);
    expect(share.maxFlows * 4).toBeLessThanOrEqual(DEFAULT_LIMITS.maxFlows);
    expect(share.maxLingeringFlows * 4).toBeLessThanOrEqual(DEFAULT_LIMITS.maxLingeringFlows);
    expect(share.maxBufferedBytes * 4).toBeLessThanOrEqual(DEFAULT_LIMITS.maxBufferedBytes);
    expect(share.maxTombstones * 4).toBeLessThanOrEqual(DEFAULT_LIMITS.maxTombstones);
    expect(share.clientStreamBytes).toBe(DEFAULT_LIMITS.clientStreamBytes);
    expect(limitsPerTable(1)).toEqual(DEFAULT_LIMITS);
  });
});

describe('Tombstones', () => {
  const flow = (client: number | string, clientPort: number, server: number | string = 0xcb007101) => ({
    protocolNumber: 6,
    clientAddress: client,
    clientPort,
    serverAddress: server,
    serverPort: 443,
  });
  const packetFrom = (flowLike: ReturnType<typeof flow>, toServer: boolean) => {
    const view = new PacketView();
    const v6 = typeof flowLike.clientAddress === 'string';
    view.ipVersion = v6 ? 6 : 4;
    view.protocol = 6;
    const [src, dst] = toServer
      ? [flowLike.clientAddress, flowLike.serverAddress]
      : [flowLike.serverAddress, flowLike.clientAddress];
    if (v6) [view.srcV6, view.dstV6] = [src as string, dst as string];
    else [view.srcV4, view.dstV4] = [src as number, dst as number];
    [view.srcPort, view.dstPort] = toServer ? [flowLike.clientPort, 443] : [443, flowLike.clientPort];
    return view;
  };

  it('finds a tombstone from either direction, IPv4 and IPv6, and nothing else', () => {
    const t = new Tombstones(10);
    const a = flow(0x0a000001, 40000);
    const b = flow('a'.repeat(16), 40001, 'b'.repeat(16));
    t.add(a, 1);
    t.add(b, 2);
    expect(t.find(packetFrom(a, true))).toBeGreaterThanOrEqual(0);
    expect(t.find(packetFrom(a, false))).toBeGreaterThanOrEqual(0);
    expect(t.find(packetFrom(b, false))).toBeGreaterThanOrEqual(0);
    expect(t.find(packetFrom(flow(0x0a000001, 40002), true))).toBe(-1);
    expect(t.find(packetFrom(flow('c'.repeat(16), 40001, 'b'.repeat(16)), true))).toBe(-1);
  });

  it('keeps at most its capacity (the oldest go first), expires by time, and forgets a deleted one', () => {
    const t = new Tombstones(3);
    const flows = [1, 2, 3, 4].map((n) => flow(0x0a000000 + n, 40000 + n));
    for (const [i, f] of flows.entries()) t.add(f, i * 10);
    expect(t.size).toBe(3);
    expect(t.find(packetFrom(flows[0]!, true))).toBe(-1);
    const slot = t.find(packetFrom(flows[1]!, true));
    t.delete(slot);
    expect(t.find(packetFrom(flows[1]!, true))).toBe(-1);
    t.expire(35, 10); // closed at 10 and 20 are more than 10 before 35; 30 is not
    expect(t.size).toBe(1);
    expect(t.find(packetFrom(flows[2]!, true))).toBe(-1);
    expect(t.find(packetFrom(flows[3]!, true))).toBeGreaterThanOrEqual(0);
  });
});

describe('record text', () => {
  it('writes times exactly as Date.toISOString, also within one second and across seconds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -8.64e18, max: 8.64e18 - 2e6 }), { minLength: 1, maxLength: 30 }),
        (list) => {
          for (const micros of list.flatMap((m) => [m, m + 1234, m + 999_999, m + 1_000_001]))
            expect(isoOfMicros(micros)).toBe(new Date(Math.floor(micros / 1000)).toISOString());
        },
      ),
    );
  });

  it('NDJSON: text and bytes give the same lines; a line longer than a batch goes out whole', async () => {
    const chunks: Buffer[] = [];
    const output = {
      write(chunk: Buffer) {
        chunks.push(Buffer.from(chunk));
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const sink = new NdjsonSink(output);
    const reused = Buffer.from('{"b":"bytes"}');
    await sink.writeJson('{"a":"text é"}');
    await sink.writeJson(reused);
    reused.fill(0x20); // the caller's buffer is its own again once writeJson returned
    const long = `{"c":"${'x'.repeat(300 * 1024)}"}`;
    await sink.writeJson(long);
    await sink.writeJson('{"d":1}');
    expect(await sink.close()).toEqual({ delivered: 4, retried: 0 });
    expect(Buffer.concat(chunks).toString('utf8')).toBe(`{"a":"text é"}\n{"b":"bytes"}\n${long}\n{"d":1}\n`);
  });

  it('Kinesis: a record given as bytes is framed once and copied (the caller may reuse its buffer)', async () => {
    const kinesis = mockClient(KinesisClient);
    const sent: string[] = [];
    kinesis.on(PutRecordsCommand).callsFake((input) => {
      for (const r of input.Records) sent.push(Buffer.from(r.Data).toString('utf8'));
      return {
        FailedRecordCount: 0,
        Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })),
      };
    });
    const sink = new KinesisSink({ client: new KinesisClient({}), streamName: 'flows' });
    const scratch = Buffer.from('{"flow":{"id":"1"}}');
    await sink.writeJson(scratch, 'device-1');
    scratch.write('{"flow":{"id":"2"}}');
    await sink.writeJson(scratch, 'device-1');
    await sink.close();
    expect(sent).toEqual(['{"flow":{"id":"1"}}', '{"flow":{"id":"2"}}']);
    kinesis.restore();
  });
});

describe('ParallelPipeline', () => {
  it("gives workers the bin's old-generation cap, which V8 applies to every isolate anyway", async () => {
    // V8's --max-old-space-size is process-wide and overrides a worker's resourceLimits; a tighter
    // worker limit took effect only in flag-less `node bin/leakwatch.js` runs, where a worker with
    // ~25 MB of live flows then mark-compacted continuously (2 threads 2.5x slower than 1).
    const { WORKER_OLD_GENERATION_MB } = await import('../../probe/parallel/parallelPipeline.ts');
    const shebang =
      readFileSync(new URL('../../bin/leakwatch.js', import.meta.url), 'utf8').split('\n')[0] ?? '';
    expect(shebang).toMatch(/--max-old-space-size=(\d+)/);
    expect(Number(/--max-old-space-size=(\d+)/.exec(shebang)?.[1])).toBe(WORKER_OLD_GENERATION_MB);
  });

  it('fails the run with a message when a worker dies, instead of waiting for it', async () => {
    const { ParallelPipeline } = await import('../../probe/parallel/parallelPipeline.ts');
    const { TEST_CONTEXT } = await import('../helpers/fixtures.ts');
    const written: (string | Buffer)[] = [];
    const pipeline = new ParallelPipeline(
      TEST_CONTEXT,
      'test.pcap',
      { run: 'run-1', writeJson: async (json) => void written.push(json) },
      2,
    );
    const { worker } = (
      pipeline as unknown as { remotes: { worker: import('node:worker_threads').Worker }[] }
    ).remotes[0]!;
    await new Promise((resolve) => worker.once('online', resolve));
    await worker.terminate();
    await expect(pipeline.finish()).rejects.toThrow(
      /probe worker 1 exited \(code 1\) before the capture ended/,
    );
    expect(written).toEqual([]);
  });
});
