import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { ensureStream, type LocalEmulators, startEmulators } from '../../local/emulators.ts';
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
});
