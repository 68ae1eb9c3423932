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
  /**
   * String sets that stop growing at a size (core/store/itemLimits.ts): an item's size decides
   * what each of its writes costs, and DynamoDB refuses an item over 400 KB. Values past the cap
   * are left out and the set is named in the item's `setsCapped`.
   */
  readonly caps?: Readonly<Record<string, number>>;
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
  const capped = Object.keys(write.caps ?? {});
  let expected: string | undefined;
  let contributions = write.contributions;
  /** The capped sets as last read (undefined until a condition failed). */
  let stored: Record<string, ReadonlySet<string>> | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const sum = sumContributions(contributions);
    const caps = capSets(sum.add, write.caps ?? {}, stored);
    const update = buildUpdate({
      set: { ...write.set, lastSeen: sum.lastSeen, [w]: batch.last },
      setOnce: { firstSeen: sum.firstSeen, ...sum.setOnce },
      add: { ...sum.add, ...caps.add },
    });
    const watermarkCondition =
      expected === undefined ? '(attribute_not_exists(#w) OR #w < :first)' : '#w = :expected';
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: write.key,
          ...update,
          ConditionExpression: [watermarkCondition, ...caps.conditions].join(' AND '),
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#w': w, ...caps.names },
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ...(expected === undefined ? { ':first': batch.first } : { ':expected': expected }),
            ...caps.values,
          },
        }),
      );
      return { applied: expected === undefined ? 'all' : 'rest', retries: attempt };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // A retry (the watermark) or a capped set near its cap: read both and write what is left.
    const names: Record<string, string> = { '#w': w };
    for (const [i, name] of capped.entries()) names[`#c${i}`] = name;
    const current = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: write.key,
        ConsistentRead: true,
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
      }),
    );
    stored = {};
    for (const name of capped) stored[name] = (current.Item?.[name] as Set<string> | undefined) ?? new Set();
    const mark = current.Item?.[w] as string | undefined;
    if (mark === undefined) {
      // Nothing of this shard is held (the condition failed on a capped set, or on a watermark that is gone).
      expected = undefined;
      contributions = write.contributions;
      continue;
    }
    contributions = write.contributions.filter((c) => c.sequence > mark);
    if (contributions.length === 0 || mark >= batch.last) return { applied: 'none', retries: attempt + 1 };
    expected = mark;
  }
  throw new Error(
    `item ${write.key.pk} ${write.key.sk}: its watermark of ${shardId} or its capped sets kept changing during ${MAX_ATTEMPTS} attempts (two writers on one shard?)`,
  );
}

/** The attribute naming an item's sets that reached their cap (values were left out). */
export const SETS_CAPPED = 'setsCapped';

/**
 * What a write adds to its capped sets, and the conditions that keep each within its cap: with
 * `stored` unknown (the first attempt) the batch's values, at most `cap`, on condition the set
 * has room for all of them; once read, only the values it lacks, as many as it has room for, on
 * condition it has not grown past that room since. Values left out name the set in `setsCapped`.
 */
export function capSets(
  add: Readonly<Record<string, number | ReadonlySet<string>>>,
  caps: Readonly<Record<string, number>>,
  stored: Readonly<Record<string, ReadonlySet<string>>> | undefined,
): {
  add: Record<string, ReadonlySet<string> | undefined>;
  conditions: string[];
  names: Record<string, string>;
  values: Record<string, number>;
} {
  const out: Record<string, ReadonlySet<string> | undefined> = {};
  const conditions: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const cut = new Set<string>();
  for (const [i, [name, cap]] of Object.entries(caps).entries()) {
    const adding = add[name];
    if (!(adding instanceof Set) || adding.size === 0) continue;
    const held = stored?.[name] ?? new Set<string>();
    const lacking = [...adding].filter((v) => !held.has(v));
    const kept = lacking.slice(0, Math.max(0, cap - held.size));
    if (kept.length < lacking.length) cut.add(name);
    out[name] = kept.length > 0 ? new Set(kept) : undefined;
    if (kept.length === 0) continue;
    names[`#c${i}`] = name;
    values[`:room${i}`] = cap - kept.length;
    conditions.push(`(attribute_not_exists(#c${i}) OR size(#c${i}) <= :room${i})`);
  }
  if (cut.size > 0) out[SETS_CAPPED] = cut;
  return { add: out, conditions, names, values };
}
