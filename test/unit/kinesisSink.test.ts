import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { DeliveryError } from '../../probe/errors.ts';
import { KinesisSink } from '../../probe/sinks/kinesisSink.ts';
import { SessionSink } from '../../probe/sinks/sessionSink.ts';
import { Spool } from '../../probe/sinks/spool.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { probeScenario } from '../helpers/scenario.ts';

const kinesis = mockClient(KinesisClient);
const noSleep = async () => undefined;

async function records(n: number): Promise<FlowRecord[]> {
  const [template] = await probeScenario('build-1');
  return Array.from({ length: n }, (_, i) => ({
    ...template!,
    flow: { ...template!.flow, id: i.toString(16).padStart(32, '0') },
  }));
}

describe('KinesisSink', () => {
  beforeEach(() => {
    kinesis.reset();
  });

  it('sends at most 500 records per PutRecords call, keyed by device', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })),
    }));
    const sink = new KinesisSink({ client: new KinesisClient({}), streamName: 'flows', sleep: noSleep });

    for (const record of await records(1201)) await sink.write(record);
    const stats = await sink.close();

    const calls = kinesis.commandCalls(PutRecordsCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Records?.length)).toEqual([500, 500, 201]);
    expect(calls[0]!.StreamName).toBe('flows');
    expect(calls[0]!.Records![0]!.PartitionKey).toBe('lab-redmi1s-01');
    expect(stats).toEqual({ delivered: 1201, retried: 0 });
  });

  it('keeps a record over 1 MiB aside with what it is, and sends the others (issue 20: it aborted the run)', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })),
    }));
    const kept: string[] = [];
    const sink = new KinesisSink({
      client: new KinesisClient({}),
      streamName: 'flows',
      sleep: noSleep,
      onOversized: async (_data, what) => void kept.push(what),
    });
    const [first, second] = await records(2);
    await sink.write(first!);
    await sink.write({ ...second!, http: [{ method: 'GET', target: 'x'.repeat(1_100_000), bodyBytes: 0 }] });
    await sink.write(first!);
    const stats = await sink.close();
    expect(stats).toEqual({ delivered: 2, retried: 0, oversized: 1 });
    expect(kept).toEqual([
      expect.stringMatching(/^flow 0{31}1 is \d+ bytes, over the 1 MiB Kinesis record limit$/),
    ]);
    // Without a place to keep it, a record too large still fails the run, as before.
    const strict = new KinesisSink({ client: new KinesisClient({}), streamName: 'flows', sleep: noSleep });
    await expect(
      strict.write({ ...second!, http: [{ method: 'GET', target: 'x'.repeat(1_100_000), bodyBytes: 0 }] }),
    ).rejects.toThrow(DeliveryError);
  });

  it("a session's end counts only the records that went on the stream (one kept aside would hold its session end back for ever)", async () => {
    kinesis.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })),
    }));
    const [first, second, third] = await records(3);
    const sink = new SessionSink(
      new KinesisSink({
        client: new KinesisClient({}),
        streamName: 'flows',
        sleep: noSleep,
        onOversized: async () => undefined,
      }),
      { device: first!.device, firmware: first!.firmware, session: first!.session },
    );
    await sink.write(first!);
    await sink.write({ ...second!, http: [{ method: 'GET', target: 'x'.repeat(1_100_000), bodyBytes: 0 }] });
    await sink.write(third!);
    expect(await sink.close()).toEqual({ delivered: 2, retried: 0, oversized: 1 });
    const sent = kinesis
      .commandCalls(PutRecordsCommand)
      .flatMap((c) => c.args[0].input.Records!.map((r) => JSON.parse(Buffer.from(r.Data!).toString('utf8'))));
    expect(sent.map((r) => r.kind ?? 'flow')).toEqual(['flow', 'flow', 'session-end']);
    expect(sent[2].flows).toBe(2);
  });

  it('starts a new request before 5 MiB', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '1' })),
    }));
    const sink = new KinesisSink({ client: new KinesisClient({}), streamName: 'flows', sleep: noSleep });
    const big = (await records(20)).map((r) => ({
      ...r,
      probe: { ...r.probe, capture: 'x'.repeat(1000) },
      candidates: Array.from({ length: 256 }, () => ({
        request: 0,
        location: 'json' as const,
        key: 'k'.repeat(500),
        value: 'v'.repeat(512),
        shape: 'text' as const,
      })),
    }));

    for (const record of big) await sink.write(record);
    await sink.close();

    const sizes = kinesis
      .commandCalls(PutRecordsCommand)
      .map((c) => c.args[0].input.Records!.reduce((n, r) => n + r.Data!.length, 0));
    expect(sizes.length).toBeGreaterThan(1);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(5 * 1024 * 1024);
  });

  it('re-sends only the entries that failed', async () => {
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({
        FailedRecordCount: 1,
        Records: [
          { SequenceNumber: '1' },
          { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' },
          { SequenceNumber: '3' },
        ],
      })
      .resolves({ FailedRecordCount: 0, Records: [{ SequenceNumber: '4' }] });
    const sink = new KinesisSink({ client: new KinesisClient({}), streamName: 'flows', sleep: noSleep });
    const three = await records(3);

    for (const record of three) await sink.write(record);
    const stats = await sink.close();

    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls).toHaveLength(2);
    expect(JSON.parse(Buffer.from(calls[1]!.args[0].input.Records![0]!.Data!).toString()).flow.id).toBe(
      three[1]!.flow.id,
    );
    expect(stats).toEqual({ delivered: 3, retried: 1 });
  });

  it('gives up with a DeliveryError after its attempts', async () => {
    kinesis.on(PutRecordsCommand).rejects(new Error('connect ECONNREFUSED'));
    const sink = new KinesisSink({
      client: new KinesisClient({}),
      streamName: 'flows',
      sleep: noSleep,
      maxAttempts: 3,
    });
    for (const record of await records(2)) await sink.write(record);

    await expect(sink.close()).rejects.toThrow(
      new DeliveryError(
        '2 records not accepted by Kinesis after 3 attempts (last error: connect ECONNREFUSED)',
      ),
    );
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(3);
  });

  it('spools what the stream refuses while it is down, keeps later batches behind it, and sends all in order when it is back', async () => {
    let call = 0;
    const accepted: string[] = [];
    kinesis.on(PutRecordsCommand).callsFake((input) => {
      call++;
      if (call >= 2 && call <= 4)
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      for (const r of input.Records) accepted.push(JSON.parse(Buffer.from(r.Data).toString()).flow.id);
      return {
        FailedRecordCount: 0,
        Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })),
      };
    });
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-spool-unit-'));
    try {
      const spooling: number[] = [];
      const sink = new KinesisSink({
        client: new KinesisClient({}),
        streamName: 'flows',
        sleep: noSleep,
        maxAttempts: 2,
        spool: new Spool(dir),
        recoverEveryMs: 0,
        onSpooling: (n) => spooling.push(n),
      });
      const written = await records(1600);
      for (const record of written) await sink.write(record);
      // Batch 1 went through; batch 2 failed twice (spooled); batch 3's recovery try failed (spooled).
      expect(await new Spool(dir).size()).toBe(1000);
      const stats = await sink.close();

      expect(spooling).toEqual([500]);
      expect(accepted).toEqual(written.map((r) => r.flow.id));
      expect(stats).toMatchObject({ delivered: 1600 });
      expect(stats.spooled).toBeUndefined();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
