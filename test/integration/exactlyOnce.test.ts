import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { paginateScan } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import type { DeadLetter } from '../../core/ingest/deadLetter.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { isWatermarkAttribute } from '../../core/store/watermark.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import {
  clientConfig,
  ensureTable,
  LOCAL_NAMES,
  type LocalEmulators,
  startEmulators,
} from '../../local/emulators.ts';
import type { StreamRecord } from '../../schema/flowRecord.ts';
import { scenarioRecords } from '../helpers/scenario.ts';
import { kinesisEvent } from '../helpers/testEvents.ts';

/**
 * Each case of docs/ingest-exactly-once.md, on dynalite, driving the ingest handler with the
 * batches Lambda would give it: the history after the faults must equal the history of a clean run
 * (every build, device run, session run, observation, alert and notification, watermarks aside).
 */

type Item = { record: StreamRecord; seq: string };
const BASE = 49_660_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;
const context = { functionName: 'ingest', awsRequestId: 'r' } as unknown as Context;

/** A table on its own emulator, and ingest handlers (execution environments) writing to it. */
class Harness {
  /** Called after each successful item write or chunk write: true kills the environment. */
  crashAfter: ((command: string, n: number, input: unknown) => boolean) | undefined;
  /** Called before each request: true fails it as a killed environment would. */
  refuse: ((command: string, input: unknown) => boolean) | undefined;
  writes = 0;
  conditionFailures = 0;
  /** Members claimed by another session-end record first (core/store/membership.ts). */
  claimsRefused = 0;
  transactionConflicts = 0;
  readonly deadLetters: DeadLetter[] = [];
  private constructor(
    readonly emulators: LocalEmulators,
    private readonly client: DynamoDBClient,
  ) {}

  static async start(): Promise<Harness> {
    const emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    const client = new DynamoDBClient({ ...clientConfig(emulators.dynamoEndpoint), maxAttempts: 1 });
    const harness = new Harness(emulators, client);
    client.middlewareStack.add(
      (next, ctx) => async (args) => {
        const command = ctx.commandName ?? '';
        if (harness.refuse?.(command, args.input)) throw new Error('the execution environment was killed');
        try {
          const output = await next(args);
          if (/UpdateItem|PutItem/.test(command)) {
            const n = ++harness.writes;
            if (harness.crashAfter?.(command, n, args.input))
              throw new Error('the execution environment was killed');
          }
          return output;
        } catch (error) {
          if ((error as Error).name === 'ConditionalCheckFailedException') {
            if (command === 'PutItemCommand' && JSON.stringify(args.input).includes('"member"'))
              harness.claimsRefused++;
            else harness.conditionFailures++;
          }
          if (JSON.stringify(error).includes('TransactionConflict')) harness.transactionConflicts++;
          throw error;
        }
      },
      { step: 'initialize', name: 'crashes' },
    );
    return harness;
  }

  /** A new execution environment (its own caches), as after a crash or on another shard. */
  environment() {
    return createIngestHandler({
      store: new LeakwatchStore(documentClient(this.client), LOCAL_NAMES.table),
      deadLetters: { send: async (letter) => void this.deadLetters.push(letter) },
      catalog: new DestinationCatalog(BUNDLED_CATALOG),
      clock: () => new Date('2026-11-21T12:00:00Z'),
      log: () => undefined,
      observability: observability('ingest', { metrics: new CountingMetrics({ namespace: 'Test' }) }),
    });
  }

  /**
   * Everything the history holds, as readers see it (watermarks, chunk items, times and which
   * session-end record claimed a member left out).
   */
  async history(): Promise<string[]> {
    const out: string[] = [];
    for await (const page of paginateScan(
      { client: this.emulators.documents },
      { TableName: LOCAL_NAMES.table },
    )) {
      for (const item of page.Items ?? []) {
        if (item.type === 'flow-ids' || item.type === 'layout') continue;
        const kept = Object.entries(item)
          .filter(
            ([name]) => !isWatermarkAttribute(name) && !['firstSeen', 'lastSeen', 'claimedBy'].includes(name),
          )
          .sort(([a], [b]) => a.localeCompare(b));
        out.push(JSON.stringify(kept, (_k, v) => (v instanceof Set ? [...v].sort() : v)));
      }
    }
    return out.sort();
  }

  close() {
    return this.emulators.close();
  }
}

const event = kinesisEvent;

const SHARD = 'shardId-000000000000';
type Handler = ReturnType<Harness['environment']>;

/** Runs batches of `size` from `from` on, as the event source does: retried from a reported failure. */
async function drain(handler: Handler, items: readonly Item[], size: number, shard = SHARD): Promise<void> {
  let at = 0;
  let attempts = 0;
  while (at < items.length) {
    const batch = items.slice(at, at + size);
    const response = await handler(event(shard, batch), context);
    const failed = response.batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) {
      at += batch.length;
      attempts = 0;
      continue;
    }
    if (++attempts > 5) throw new Error(`batch at ${at} kept failing (from ${failed})`);
    at = items.findIndex((item) => item.seq === failed);
  }
}

/** Runs one batch that is expected to be killed. */
async function killed(handler: Handler, items: readonly Item[]): Promise<void> {
  await expect(handler(event(SHARD, items), context)).rejects.toThrow('the execution environment was killed');
}

describe('ingest counts each flow exactly once (docs/ingest-exactly-once.md)', () => {
  let stream: Item[];
  let builds: StreamRecord[][];
  let clean: string[];
  const seq = (i: number) => String(BASE + BigInt(i) * 1000n);

  beforeAll(async () => {
    builds = await scenarioRecords();
    stream = builds.flat().map((record, i) => ({ record, seq: seq(i) }));
    const h = await Harness.start();
    try {
      await drain(h.environment(), stream, 5);
      clean = await h.history();
    } finally {
      await h.close();
    }
  }, 60_000);

  /** A case: a fresh table, what `run` does to it, and its history compared with the clean run. */
  async function historyAfter(
    run: (h: Harness) => Promise<void>,
  ): Promise<{ h: Harness; history: string[] }> {
    const h = await Harness.start();
    try {
      await run(h);
      return { h, history: await h.history() };
    } finally {
      await h.close();
    }
  }

  it('the clean run counted what the scenario holds (the reference)', () => {
    const buildItems = clean.filter((i) => i.includes('["type","build"]'));
    const flows = buildItems.map((i) => Object.fromEntries(JSON.parse(i)).flows as number);
    expect(flows.reduce((a, b) => a + b, 0)).toBe(14);
    expect(clean.filter((i) => i.includes('["type","alert"]'))).toHaveLength(15);
  });

  it('Lambda retries the whole batch after a crash between two item writes (in a new environment)', async () => {
    const { h, history } = await historyAfter(async (h) => {
      h.crashAfter = (command, n) => command === 'UpdateItemCommand' && n === 3;
      await killed(h.environment(), stream.slice(0, 9));
      h.crashAfter = undefined;
      await drain(h.environment(), stream, 9);
    });
    expect(h.conditionFailures).toBeGreaterThan(0);
    expect(history).toEqual(clean);
  });

  it('the retry has other boundaries than the first try: bisected, then past its end (same environment)', async () => {
    const { h, history } = await historyAfter(async (h) => {
      const env = h.environment();
      h.crashAfter = (command, n) => command === 'UpdateItemCommand' && n === 6;
      await killed(env, stream.slice(0, 10));
      h.crashAfter = undefined;
      // Bisected: the first half, then a batch from the second half running past the first try's end.
      await drain(env, stream.slice(0, 5), 5);
      await drain(env, stream.slice(5), 8);
    });
    expect(h.conditionFailures).toBeGreaterThan(0);
    expect(history).toEqual(clean);
  });

  it("a crash after one session's flow-id chunk was written and before the other's", async () => {
    const { h, history } = await historyAfter(async (h) => {
      // Builds 1 and 2 (two sessions) in one batch; killed as it writes build 2's chunk.
      const twoSessions = builds[0]!.length + builds[1]!.length;
      const session2 = builds[1]![0]!.session.id;
      h.refuse = (command, input) => command === 'PutItemCommand' && JSON.stringify(input).includes(session2);
      await killed(h.environment(), stream.slice(0, twoSessions));
      h.refuse = undefined;
      await drain(h.environment(), stream, twoSessions);
    });
    expect(h.conditionFailures).toBeGreaterThan(0);
    expect(history).toEqual(clean);
  });

  it('a crash at any write of a session end (member claims, line and build counts): counted once after the retry', async () => {
    // What a session end writes: its members' claims and the counts under the `-end` watermark.
    const endWrite = (input: unknown) => /"member"|-end"/.test(JSON.stringify(input));
    let points = 0;
    for (let k = 1; ; k++) {
      let seen = 0;
      const { history } = await historyAfter(async (h) => {
        h.crashAfter = (_command, _n, input) => endWrite(input) && ++seen === k;
        const env = h.environment();
        await drain(env, stream, 5).catch((error: Error) => {
          if (!/killed/.test(error.message)) throw error;
        });
        h.crashAfter = undefined;
        await drain(h.environment(), stream, 5);
      });
      if (seen < k) break; // past the last such write: the run above was a clean one
      points++;
      expect({ k, history }).toEqual({ k, history: clean });
    }
    // Three session ends of one device: four claims and two counts each, less the line-device
    // claims of the second and third (refused: the first session end claimed the device).
    expect(points).toBe(3 * 6 - 2);
  }, 120_000);

  it('a replay of the stream (the same sequence numbers) adds nothing', async () => {
    const { history } = await historyAfter(async (h) => {
      await drain(h.environment(), stream, 5);
      await drain(h.environment(), stream, 7);
      await drain(h.environment(), stream.slice(3, 11), 3);
    });
    expect(history).toEqual(clean);
  });

  it('a record the probe put twice counts once: in the same batch, and in a later batch', async () => {
    const { history } = await historyAfter(async (h) => {
      const twice: Item[] = [];
      let n = 0;
      const b2 = builds[0]!.length;
      stream.forEach(({ record }, i) => {
        twice.push({ record, seq: seq(n++) });
        // Build 2's flows again: right after (the same batch) or after its session end (later).
        if (i >= b2 && i < b2 + builds[1]!.length - 1) twice.push({ record, seq: seq(n++) });
      });
      twice.push(...stream.slice(b2, b2 + 3).map(({ record }) => ({ record, seq: seq(n++) })));
      await drain(h.environment(), twice, 6);
    });
    expect(history).toEqual(clean);
  });

  it('the same capture probed again (a new run) counts nothing for the build, and its session end completes', async () => {
    const { history } = await historyAfter(async (h) => {
      const again = builds[1]!.map((record) => ({
        ...record,
        probe: { ...record.probe, run: 'run-build-2-again' },
      })) as StreamRecord[];
      const items = [...stream, ...again.map((record, i) => ({ record, seq: seq(stream.length + i) }))];
      await drain(h.environment(), items, 5);
    });
    const withoutRun = history.filter((i) => !i.includes('RUN#run-build-2-again'));
    expect(withoutRun).toEqual(clean);
    const run = history.find((i) => i.includes('RUN#run-build-2-again'))!;
    expect(Object.fromEntries(JSON.parse(run))).toMatchObject({ flows: builds[1]!.length - 1 });
  });

  it('16 shards writing the same build at once: no conflicts, every flow counted once', async () => {
    const per = builds[0]!;
    const { h, history } = await historyAfter(async (h) => {
      await Promise.all(
        Array.from({ length: 16 }, (_, k) => {
          const records = per.map((r) => ({
            ...r,
            device: { ...r.device, id: `lab-${k}` },
            session: { ...r.session, id: `session-${k}` },
          })) as StreamRecord[];
          const items = records.map((record, i) => ({ record, seq: seq(i) }));
          return drain(h.environment(), items, 2, `shardId-${String(k).padStart(12, '0')}`);
        }),
      );
    });
    const items = history.map((i) => Object.fromEntries(JSON.parse(i)));
    const build = items.find((i) => i.type === 'build')!;
    expect(build.flows).toBe(16 * (per.length - 1));
    expect(build).toMatchObject({ deviceCount: 16, sessionCount: 16 });
    expect(build.deviceSample).toHaveLength(16);
    // The build is counted in its line once, by whichever session end claimed it first.
    expect(items.find((i) => i.type === 'line')).toMatchObject({
      buildCount: 1,
      deviceCount: 16,
      sessionCount: 16,
    });
    expect(items.filter((i) => i.type === 'member')).toHaveLength(16 * 3 + 1);
    expect(h.claimsRefused).toBe(15);
    expect(h.transactionConflicts).toBe(0);
    expect(h.conditionFailures).toBe(0);
  });
});
