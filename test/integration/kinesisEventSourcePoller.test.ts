import { DescribeStreamSummaryCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import {
  ensureStream,
  LOCAL_STREAM_RETENTION_HOURS,
  type LocalEmulators,
  startEmulators,
} from '../../local/emulators.ts';
import { KinesisEventSourcePoller, type OnFailureRecord } from '../../local/kinesisEventSourcePoller.ts';

/** The poller against kinesalite, with handlers that fail on purpose. */
describe('KinesisEventSourcePoller', () => {
  let emulators: LocalEmulators;
  let streamCount = 0;

  beforeAll(async () => {
    emulators = await startEmulators(null);
  });
  afterAll(async () => {
    await emulators.close();
  });

  async function streamWith(values: string[]): Promise<{ streamName: string; streamArn: string }> {
    const streamName = `poller-test-${++streamCount}`;
    const streamArn = await ensureStream(emulators.kinesis, streamName, 1);
    await emulators.kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: values.map((v) => ({ Data: Buffer.from(v), PartitionKey: 'k' })),
      }),
    );
    return { streamName, streamArn };
  }
  const valuesOf = (event: KinesisStreamEvent) =>
    event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

  /** Records k0/0 … k7/4 on a stream of four shards, and a handler that records what ran at once. */
  async function concurrencyProbe() {
    const streamName = `poller-test-${++streamCount}`;
    const streamArn = await ensureStream(emulators.kinesis, streamName, 4);
    const records = [];
    for (let n = 0; n < 5; n++)
      for (let k = 0; k < 8; k++) records.push({ Data: Buffer.from(`k${k}/${n}`), PartitionKey: `k${k}` });
    await emulators.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: records }));
    let running = 0;
    let most = 0;
    const shardsOf = new Map<number, Set<string>>();
    const valuesByKey = new Map<string, string[]>();
    const handlerFor = (instance: number) => {
      let busy = false;
      return async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
        if (busy) throw new Error(`environment ${instance} got a second invocation while busy`);
        busy = true;
        running++;
        most = Math.max(most, running);
        for (const record of event.Records) {
          const shards = shardsOf.get(instance) ?? new Set();
          shardsOf.set(instance, shards.add(record.eventID.split(':')[0]!));
          const [key, n] = Buffer.from(record.kinesis.data, 'base64').toString().split('/');
          valuesByKey.set(key!, [...(valuesByKey.get(key!) ?? []), n!]);
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
        running--;
        busy = false;
        return { batchItemFailures: [] };
      };
    };
    return { stream: { streamName, streamArn }, handlerFor, shardsOf, valuesByKey, most: () => most };
  }

  it('processes shards at the same time, each with its own environment, in order within a key', async () => {
    const probe = await concurrencyProbe();
    let environments = 0;
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...probe.stream,
      handler: { environment: () => probe.handlerFor(environments++) },
      batchSize: 2,
      onFailure: async () => undefined,
    });
    const stats = await poller.drain();
    expect(stats.records).toBe(40);
    const shardsUsed = new Set([...probe.shardsOf.values()].flatMap((s) => [...s]));
    expect(shardsUsed.size).toBeGreaterThan(1);
    // One environment per shard, never shared, and more than one invocation at a time.
    expect(environments).toBe(4);
    for (const shards of probe.shardsOf.values()) expect(shards.size).toBe(1);
    expect(probe.most()).toBeGreaterThan(1);
    for (const values of probe.valuesByKey.values()) expect(values).toEqual(['0', '1', '2', '3', '4']);
  });

  it('processes shards one after the other when given one handler (one environment)', async () => {
    const probe = await concurrencyProbe();
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...probe.stream,
      handler: probe.handlerFor(0),
      batchSize: 2,
      onFailure: async () => undefined,
    });
    expect((await poller.drain()).records).toBe(40);
    expect(probe.most()).toBe(1);
    for (const values of probe.valuesByKey.values()) expect(values).toEqual(['0', '1', '2', '3', '4']);
  });

  it('resumes at the lowest failed record and never skips one', async () => {
    const stream = await streamWith(['a', 'b', 'c', 'd']);
    const seen: string[][] = [];
    let failuresLeft = 2;
    const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
      seen.push(valuesOf(event));
      const c = event.Records.find((r) => Buffer.from(r.kinesis.data, 'base64').toString() === 'c');
      if (c && failuresLeft-- > 0)
        return { batchItemFailures: [{ itemIdentifier: c.kinesis.sequenceNumber }] };
      return { batchItemFailures: [] };
    };
    const failures: OnFailureRecord[] = [];
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      onFailure: async (f) => void failures.push(f),
    });

    await poller.drain();

    expect(seen).toEqual([
      ['a', 'b', 'c', 'd'],
      ['c', 'd'],
      ['c', 'd'],
    ]);
    expect(failures).toEqual([]);
  });

  it('sends the batch metadata to the on-failure destination when retries run out, then moves on', async () => {
    const stream = await streamWith(['ok', 'poison', 'after']);
    const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
      const poison = event.Records.find((r) => Buffer.from(r.kinesis.data, 'base64').toString() === 'poison');
      return { batchItemFailures: poison ? [{ itemIdentifier: poison.kinesis.sequenceNumber }] : [] };
    };
    const failures: OnFailureRecord[] = [];
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      retryAttempts: 2,
      onFailure: async (f) => void failures.push(f),
    });

    const stats = await poller.drain();

    expect(stats.invocations).toBe(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.KinesisBatchInfo).toMatchObject({
      shardId: 'shardId-000000000000',
      batchSize: 2,
      streamArn: stream.streamArn,
    });
  });

  it("ends a batch before the invocation's payload limit, as Lambda's 6 MB limit makes the event source do", async () => {
    // 12 records of 3,000 bytes (4,000 in base64, plus the record's ids and ARNs) under a 10,000-byte limit.
    const values = Array.from({ length: 12 }, (_, i) => String(i).padStart(3000, '.'));
    const stream = await streamWith(values);
    const sizes: number[] = [];
    const seen: string[] = [];
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler: async (event) => {
        sizes.push(event.Records.reduce((sum, r) => sum + r.kinesis.data.length, 0));
        seen.push(...valuesOf(event));
        return { batchItemFailures: [] };
      },
      maxPayloadBytes: 10_000,
      onFailure: async () => undefined,
    });

    await poller.drain();

    expect(seen).toEqual(values);
    expect(sizes).toEqual(Array(6).fill(8000));
  });

  it('bisects a batch whose invocation throws until the bad record is alone', async () => {
    const stream = await streamWith(['1', '2', 'boom', '4']);
    const succeeded: string[] = [];
    const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
      const values = valuesOf(event);
      if (values.includes('boom')) throw new Error('function error');
      succeeded.push(...values);
      return { batchItemFailures: [] };
    };
    const failures: OnFailureRecord[] = [];
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      retryAttempts: 1,
      onFailure: async (f) => void failures.push(f),
    });

    await poller.drain();

    expect(succeeded.sort()).toEqual(['1', '2', '4']);
    expect(failures.map((f) => [f.KinesisBatchInfo.batchSize, f.lastError])).toEqual([[1, 'function error']]);
  });

  it('a new poller given the checkpoints goes on after the last batch processed, not from the start', async () => {
    const stream = await streamWith(['1', '2', '3', '4', '5']);
    const saved = new Map<string, string>();
    const checkpoints = {
      get: (shardId: string) => saved.get(shardId),
      set: async (shardId: string, sequenceNumber: string) => void saved.set(shardId, sequenceNumber),
    };
    const seen: string[][] = [];
    const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
      seen.push(valuesOf(event));
      return { batchItemFailures: [] };
    };
    const first = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      batchSize: 2,
      checkpoints,
      onFailure: async () => undefined,
    });
    await first.drain();
    expect(seen.flat()).toEqual(['1', '2', '3', '4', '5']);
    expect([...saved.keys()]).toEqual(['shardId-000000000000']);

    // As after a restart: a fresh poller (no iterators) on the same stream with more records on it.
    await emulators.kinesis.send(
      new PutRecordsCommand({
        StreamName: stream.streamName,
        Records: ['6', '7'].map((v) => ({ Data: Buffer.from(v), PartitionKey: 'k' })),
      }),
    );
    seen.length = 0;
    const second = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      checkpoints,
      onFailure: async () => undefined,
    });
    await second.drain();
    expect(seen.flat()).toEqual(['6', '7']);

    // Without checkpoints a fresh poller starts at the trim horizon.
    seen.length = 0;
    await new KinesisEventSourcePoller({
      client: emulators.kinesis,
      ...stream,
      handler,
      onFailure: async () => undefined,
    }).drain();
    expect(seen.flat()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });

  it('local streams keep records 7 days (kinesalite creates them with 24 hours), also when ensured again', async () => {
    const { streamName } = await streamWith(['1']);
    const retention = async () =>
      (await emulators.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName })))
        .StreamDescriptionSummary?.RetentionPeriodHours;
    expect(LOCAL_STREAM_RETENTION_HOURS).toBe(168);
    expect(await retention()).toBe(168);
    await ensureStream(emulators.kinesis, streamName, 1); // as serve does at a restart
    expect(await retention()).toBe(168);
  });
});
