import type { KinesisStreamEvent } from 'aws-lambda';
import type { StreamRecord } from '../../schema/flowRecord.ts';

/** A Kinesis event as Lambda's event source hands a shard's records to the ingest function. */
export function kinesisEvent(
  shard: string,
  items: readonly { readonly record: StreamRecord; readonly seq: string }[],
): KinesisStreamEvent {
  return {
    Records: items.map(({ record, seq }) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.device.id,
        sequenceNumber: seq,
        data: Buffer.from(JSON.stringify(record)).toString('base64'),
        approximateArrivalTimestamp: 1_700_000_000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shard}:${seq}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/ingest',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/flows',
    })),
  };
}

/** A seeded random number generator (mulberry32): a failing case can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
