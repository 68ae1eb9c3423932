import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { getOrCreate } from '../maps.ts';
import { keys } from '../store/keys.ts';
import { FLOW_IDS_TTL_DAYS } from '../store/tableDesign.ts';

/**
 * Which flows of a session were counted: flow-id chunks (docs/ingest-exactly-once.md). After all
 * of a batch's item writes succeeded, each session of the batch gets one chunk item per probe run
 * holding, for every record that changed what is known of its flow, the 8-byte prefix of the flow
 * id and what happened to it. A later batch reads the session's chunks before it counts anything,
 * so a flow put twice by the probe, or probed again in a new run, is counted for its build once.
 */

/** What a record did to its flow id. */
export enum IdState {
  /** Counted for the build and settled for its run. */
  Counted = 1,
  /** Settled for its run only: the flow had been counted by an earlier run of the session. */
  Settled = 2,
  /** Dead-lettered: settled for its run, not counted (a redrive counts it). */
  Dead = 3,
  /** Counted for the build, settled before (a redriven dead-lettered flow). */
  Recounted = 4,
}

/** Bytes a chunk keeps of each flow id's digest. */
export const ID_PREFIX_BYTES = 8;
const ENTRY_BYTES = ID_PREFIX_BYTES + 1;

/**
 * What a chunk keeps of a flow id: the first 8 bytes of its SHA-256 (hex), so ids that share a
 * prefix (a producer that numbers its flows) still differ. Two flows of one session collide with a
 * probability of about n²/2⁶⁵ (a million flows: 3·10⁻⁸).
 */
export const idPrefix = (flowId: string) =>
  createHash('sha256').update(flowId).digest().toString('hex', 0, ID_PREFIX_BYTES);

export interface ChunkEntry {
  readonly id: string;
  readonly state: IdState;
}

export function encodeChunk(entries: readonly ChunkEntry[]): Uint8Array {
  const out = Buffer.alloc(entries.length * ENTRY_BYTES);
  entries.forEach((entry, i) => {
    const at = i * ENTRY_BYTES;
    if (out.write(entry.id, at, ID_PREFIX_BYTES, 'hex') !== ID_PREFIX_BYTES) {
      throw new RangeError(
        `flow id prefix ${JSON.stringify(entry.id)} is not ${ID_PREFIX_BYTES * 2} hex digits`,
      );
    }
    out[at + ID_PREFIX_BYTES] = entry.state;
  });
  return out;
}

export function decodeChunk(data: Uint8Array): ChunkEntry[] {
  if (data.length % ENTRY_BYTES !== 0) {
    throw new RangeError(
      `flow-id chunk of ${data.length} bytes is not a whole number of ${ENTRY_BYTES}-byte entries`,
    );
  }
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
  const entries: ChunkEntry[] = [];
  for (let at = 0; at < bytes.length; at += ENTRY_BYTES) {
    entries.push({
      id: bytes.toString('hex', at, at + ID_PREFIX_BYTES),
      state: bytes[at + ID_PREFIX_BYTES] as IdState,
    });
  }
  return entries;
}

const counts = (state: IdState) => state === IdState.Counted || state === IdState.Recounted;
const settles = (state: IdState) => state !== IdState.Recounted;

/** What is known of one session's flow ids: counted ones, and settled ones per probe run. */
export class SessionIds {
  readonly counted = new Set<string>();
  readonly settled = new Map<string, Set<string>>();
  /** The sort key of the last chunk read or written (later reads start after it). */
  lastChunk: string | undefined;
  size = 0;

  apply(run: string, entries: Iterable<ChunkEntry>): void {
    for (const { id, state } of entries) {
      if (counts(state)) this.counted.add(id);
      if (settles(state)) this.settledIn(run).add(id);
      this.size++;
    }
  }

  settledIn(run: string): Set<string> {
    return getOrCreate(this.settled, run, () => new Set());
  }
}

/**
 * A chunk's key: the session, then the sequence number of the chunk's first record (which no
 * earlier chunk holds, so keys never repeat and a session's chunks sort as they were written).
 */
function chunkKey(deviceId: string, sessionId: string, sequence: string, shardId: string, run: string) {
  return {
    pk: keys.session(deviceId, sessionId),
    sk: `IDS#${sequence}#${encodeURIComponent(shardId)}#${encodeURIComponent(run)}`,
  };
}

const CHUNK_FIRST = 'IDS#';
const CHUNK_END = 'IDS$';

/**
 * Each session's flow ids, cached in the execution environment: a session met again reads only the
 * chunks written after the last it has (one Query, usually empty). Bounded: past `maxIds` entries
 * the cache starts again empty (the next batch reads its sessions whole).
 */
export class SessionIdCache {
  private readonly sessions = new Map<string, SessionIds>();
  private entries = 0;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly maxIds = 2_000_000,
  ) {}

  /** The session's ids, with every chunk written so far (strongly consistent). */
  async load(deviceId: string, sessionId: string): Promise<SessionIds> {
    const pk = keys.session(deviceId, sessionId);
    const known = getOrCreate(this.sessions, pk, () => new SessionIds());
    const before = known.size;
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': pk,
          ':from': known.lastChunk ? `${known.lastChunk}\u0000` : CHUNK_FIRST,
          ':to': CHUNK_END,
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        known.apply(String(item.run), decodeChunk(item.ids as Uint8Array));
        known.lastChunk = String(item.sk);
      }
    }
    this.entries += known.size - before;
    return known;
  }

  /**
   * Writes a chunk (after every item write of its batch succeeded) and adds it to the cache.
   * `sequence` is the encoded sequence number of its first record, on shard `shardId`.
   */
  async write(
    chunk: { deviceId: string; sessionId: string; run: string; sequence: string; shardId: string },
    entries: readonly ChunkEntry[],
    now: Date,
  ): Promise<void> {
    const { deviceId, sessionId, run } = chunk;
    const key = chunkKey(deviceId, sessionId, chunk.sequence, chunk.shardId, run);
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...key,
          type: 'flow-ids',
          deviceId,
          sessionId,
          run,
          ids: encodeChunk(entries),
          writtenAt: now.toISOString(),
          expiresAt: Math.floor(now.getTime() / 1000) + FLOW_IDS_TTL_DAYS * 86400,
        },
      }),
    );
    // Only a written chunk enters the cache: a batch that fails before its chunks are written
    // leaves the cache as the table is, so its retry judges its records as the first try did.
    const known = this.sessions.get(key.pk);
    if (known && (!known.lastChunk || key.sk > known.lastChunk)) {
      known.apply(run, entries);
      known.lastChunk = key.sk;
      this.entries += entries.length;
    } else if (known) {
      this.sessions.delete(key.pk);
    }
    if (this.entries > this.maxIds) {
      this.sessions.clear();
      this.entries = 0;
    }
  }
}
