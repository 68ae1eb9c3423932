import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { buildUpdate } from './updateExpression.ts';

/**
 * Per-item, per-shard watermarks: how an aggregate item takes a batch's summed contribution exactly
 * once without a write per flow (docs/ingest-exactly-once.md). The item keeps, for each shard that
 * wrote it, the sequence number of the last record of that shard whose contribution it holds; a
 * write adds only what comes after it.
 */

/**
 * A Kinesis sequence number (a decimal string of up to 129 digits) as a string whose order is the
 * numbers' order: the length of its base-36 form in two base-36 digits, then the base-36 form.
 */
export function encodeSequence(sequenceNumber: string): string {
  if (!/^(0|[1-9]\d{0,128})$/.test(sequenceNumber)) {
    throw new RangeError(`not a Kinesis sequence number: ${JSON.stringify(sequenceNumber.slice(0, 40))}`);
  }
  const digits = BigInt(sequenceNumber).toString(36);
  return digits.length.toString(36).padStart(2, '0') + digits;
}

/** The attribute an item keeps a shard's watermark in (`w_0`, `w_17` for `shardId-000000000017`). */
export function watermarkAttribute(shardId: string): string {
  const number = /^shardId-(\d+)$/.exec(shardId);
  const name = number ? String(Number(number[1])) : shardId.replace(/[^A-Za-z0-9_-]/g, '_');
  return `w_${name}`;
}

/** Whether an attribute name is a watermark (readers leave them out of what they return). */
export const isWatermarkAttribute = (name: string) => name.startsWith('w_');

/** An item as readers see it: its watermarks left out. */
export function withoutWatermarks<T extends Record<string, unknown>>(item: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) if (!isWatermarkAttribute(name)) out[name] = value;
  return out as T;
}

/** What one record adds to one item. */
export interface Contribution {
  /** The record's encoded sequence number (encodeSequence). */
  readonly sequence: string;
  /** Numbers are summed, string sets unioned. */
  readonly add: Readonly<Record<string, number | ReadonlySet<string> | undefined>>;
  readonly firstSeen?: string;
  readonly lastSeen?: string;
  /** Written by the item's first contribution only (`if_not_exists`). */
  readonly setOnce?: Readonly<Record<string, unknown>>;
}

/** One aggregate item's write for a batch: its key, what every write sets, and each record's part. */
export interface AggregateWrite {
  readonly key: { readonly pk: string; readonly sk: string };
  /** Attributes set on every write (type, names of the build, destination fields). */
  readonly set: Readonly<Record<string, unknown>>;
  readonly contributions: Contribution[];
}

export interface WatermarkedResult {
  /** `all`: the batch's whole delta; `rest`: only records after the item's watermark (a retry); `none`. */
  readonly applied: 'all' | 'rest' | 'none';
  /** Conditional writes refused (an earlier try had written the item) and reads that followed. */
  readonly retries: number;
}

/** The summed delta of contributions. */
export function sumContributions(contributions: readonly Contribution[]) {
  const add: Record<string, number | Set<string>> = {};
  let firstSeen: string | undefined;
  let lastSeen: string | undefined;
  const setOnce: Record<string, unknown> = {};
  for (const c of contributions) {
    for (const [name, value] of Object.entries(c.add)) {
      if (value === undefined) continue;
      if (typeof value === 'number') add[name] = ((add[name] as number | undefined) ?? 0) + value;
      else {
        const set = (add[name] as Set<string> | undefined) ?? new Set<string>();
        for (const v of value) set.add(v);
        add[name] = set;
      }
    }
    if (c.firstSeen && (!firstSeen || c.firstSeen < firstSeen)) firstSeen = c.firstSeen;
    if (c.lastSeen && (!lastSeen || c.lastSeen > lastSeen)) lastSeen = c.lastSeen;
    for (const [name, value] of Object.entries(c.setOnce ?? {})) {
      if (value !== undefined && setOnce[name] === undefined) setOnce[name] = value;
    }
  }
  return { add, firstSeen, lastSeen, setOnce };
}

const MAX_ATTEMPTS = 5;

/**
 * Adds a batch's contributions to one item, exactly once per record, in one `UpdateItem`:
 * `ADD` the summed delta and `SET` the shard's watermark to the batch's last sequence number, on
 * condition that the watermark is absent or below the batch's first (the item holds nothing of the
 * batch). When the condition fails (a retry: the item holds part or all of it), the item's
 * watermark is read and only the records after it are added, on condition the watermark is still
 * that value. No transaction: shards writing the same item never cancel each other.
 */
export async function applyWatermarked(
  client: DynamoDBDocumentClient,
  tableName: string,
  shardId: string,
  batch: { readonly first: string; readonly last: string },
  write: AggregateWrite,
): Promise<WatermarkedResult> {
  const w = watermarkAttribute(shardId);
  let expected: string | undefined;
  let contributions = write.contributions;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const sum = sumContributions(contributions);
    const update = buildUpdate({
      set: { ...write.set, lastSeen: sum.lastSeen, [w]: batch.last },
      setOnce: { firstSeen: sum.firstSeen, ...sum.setOnce },
      add: sum.add,
    });
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: write.key,
          ...update,
          ConditionExpression:
            expected === undefined ? 'attribute_not_exists(#w) OR #w < :first' : '#w = :expected',
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#w': w },
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ...(expected === undefined ? { ':first': batch.first } : { ':expected': expected }),
          },
        }),
      );
      return { applied: expected === undefined ? 'all' : 'rest', retries: attempt };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const current = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: write.key,
        ConsistentRead: true,
        ProjectionExpression: '#w',
        ExpressionAttributeNames: { '#w': w },
      }),
    );
    const mark = current.Item?.[w] as string | undefined;
    if (mark === undefined) {
      // The condition failed on a watermark that is gone: nothing of this shard is held.
      expected = undefined;
      contributions = write.contributions;
      continue;
    }
    contributions = write.contributions.filter((c) => c.sequence > mark);
    if (contributions.length === 0 || mark >= batch.last) return { applied: 'none', retries: attempt + 1 };
    expected = mark;
  }
  throw new Error(
    `item ${write.key.pk} ${write.key.sk}: its watermark of ${shardId} kept changing during ${MAX_ATTEMPTS} attempts (two writers on one shard?)`,
  );
}
