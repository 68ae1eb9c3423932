import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import { FleetHistory } from '../../core/history/fleetHistory.ts';
import type { DeadLetter } from '../../core/ingest/deadLetter.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { SET_CAPS } from '../../core/store/itemLimits.ts';
import { keys, lineKey } from '../../core/store/keys.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { applyWatermarked, encodeSequence } from '../../core/store/watermark.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import {
  clientConfig,
  ensureTable,
  LOCAL_NAMES,
  type LocalEmulators,
  startEmulators,
} from '../../local/emulators.ts';
import type { FlowRecord, SessionEndRecord, StreamRecord } from '../../schema/flowRecord.ts';
import { scenarioRecords } from '../helpers/scenario.ts';
import { kinesisEvent } from '../helpers/testEvents.ts';

/**
 * Items keep their size however long a line runs (issue 20, item 6): sets that grew with every
 * session, device, build, field name and denied service made a line item pass DynamoDB's 400 KB
 * (~20,000 sessions; ~1,600 with long ids), after which every later flow and session end touching
 * it was dead-lettered and alerts stopped resolving. Now sessions, devices and builds are counted
 * through membership items, and the device-chosen sets stop at their caps (core/store/itemLimits.ts).
 */

const context = { functionName: 'ingest', awsRequestId: 'r' } as unknown as Context;
const SHARD = 'shardId-000000000000';

/** DynamoDB's size of an item: names and values in UTF-8 (numbers as about their digits). */
const itemBytes = (item: Record<string, unknown>) =>
  Buffer.byteLength(JSON.stringify(marshall(item, { convertClassInstanceToMap: true })));

describe('aggregate items stay bounded while a line grows', () => {
  let emulators: LocalEmulators;
  let client: DynamoDBClient;
  const deadLetters: DeadLetter[] = [];
  let sequence = 1_000_000n;

  const handler = () =>
    createIngestHandler({
      store: new LeakwatchStore(documentClient(client), LOCAL_NAMES.table),
      deadLetters: { send: async (letter) => void deadLetters.push(letter) },
      catalog: new DestinationCatalog(BUNDLED_CATALOG),
      clock: () => new Date('2026-12-02T12:00:00Z'),
      log: () => undefined,
      observability: observability('ingest', { metrics: new CountingMetrics({ namespace: 'Test' }) }),
    });

  /** Puts records through the ingest handler in batches of 100, as the event source would. */
  async function ingest(records: readonly StreamRecord[]) {
    const ingest = handler();
    for (let at = 0; at < records.length; at += 100) {
      const batch = records.slice(at, at + 100);
      const event = kinesisEvent(
        SHARD,
        batch.map((record) => {
          sequence += 10n;
          return { record, seq: String(sequence) };
        }),
      );
      const response = await ingest(event, context);
      expect(response.batchItemFailures).toEqual([]);
    }
  }

  async function items(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for await (const page of paginateScan({ client: emulators.documents }, { TableName: LOCAL_NAMES.table }))
      out.push(...(page.Items ?? []));
    return out;
  }

  beforeAll(async () => {
    emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    client = new DynamoDBClient(clientConfig(emulators.dynamoEndpoint));
  });
  afterAll(() => emulators?.close());

  it('a capped set takes what it has room for, keeps counting, and never passes its cap', async () => {
    const docs = documentClient(client);
    const key = { pk: 'TEST#caps', sk: 'ITEM' };
    const write = (shard: string, seq: number, values: string[]) =>
      applyWatermarked(
        docs,
        LOCAL_NAMES.table,
        shard,
        { first: encodeSequence(String(seq)), last: encodeSequence(String(seq)) },
        {
          key,
          set: { type: 'test' },
          contributions: [
            { sequence: encodeSequence(String(seq)), add: { flows: 1, names: new Set(values) } },
          ],
          caps: { names: 5 },
        },
      );
    const read = async () =>
      (
        await emulators.documents.send(
          new GetCommand({ TableName: LOCAL_NAMES.table, Key: key, ConsistentRead: true }),
        )
      ).Item!;
    // More values than the cap in one batch: the first five.
    await write('shardId-000000000001', 10, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    let item = await read();
    expect([...(item.names as Set<string>)].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([...(item.setsCapped as Set<string>)]).toEqual(['names']);
    // Full: a value it holds, a new one (left out), and the counter still counts.
    await write('shardId-000000000001', 20, ['a', 'z']);
    // Another shard, concurrently with a third: neither passes the cap.
    await Promise.all([
      write('shardId-000000000002', 10, ['x1', 'x2']),
      write('shardId-000000000003', 10, ['y1', 'y2']),
    ]);
    // A retry of a batch already written adds nothing.
    await write('shardId-000000000001', 20, ['a', 'z']);
    item = await read();
    expect((item.names as Set<string>).size).toBe(5);
    expect(item.flows).toBe(4);
  });

  it('fills every set to its cap over 300 sessions and 72 builds; counts stay exact and alerts still resolve', async () => {
    const [, build2] = await scenarioRecords();
    const post = build2!.find((r) => JSON.stringify(r).includes('cloudmsg/register')) as FlowRecord;
    const dns = build2![0] as FlowRecord;
    const end = build2!.at(-1) as SessionEndRecord;
    const long = (prefix: string, i: number) => `${prefix}-${i}-`.padEnd(200, 'x');
    const consent = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`lab.service-${i}`, 'denied' as const]),
    );
    const firmware = (n: number) => ({
      ...post.firmware,
      build: `B${String(n).padStart(3, '0')}`,
      builtAt: new Date(Date.UTC(2020, 0, n)).toISOString(),
    });
    const flowId = (n: number) => n.toString(16).padStart(32, '0');
    let flowNumber = 0;
    const session = (
      template: FlowRecord,
      build: number,
      device: string,
      sessionId: string,
      extra: Partial<FlowRecord> = {},
    ): StreamRecord[] => {
      const common = {
        device: { ...post.device, id: device },
        firmware: firmware(build),
        session: { ...post.session, id: sessionId, consent: { ...post.session.consent, ...consent } },
      };
      const run = `run-${sessionId.slice(0, 40)}`;
      return [
        {
          ...template,
          ...common,
          ...extra,
          flow: { ...template.flow, id: flowId(++flowNumber) },
          probe: { ...template.probe, run },
        },
        { ...end, ...common, flows: 1, probe: { ...end.probe, run } },
      ] as StreamRecord[];
    };

    // Build 1: 300 lab devices, each its own session (200-character ids), each sending the IMEI in
    // plaintext under a field name of its own (300 `where` values for one observation).
    const first: StreamRecord[] = [];
    for (let i = 0; i < 300; i++) {
      const candidates = post.candidates.map((c) =>
        c.key === 'imei' ? { ...c, key: `imei_${i}_`.padEnd(100, 'k') } : c,
      );
      first.push(...session(post, 1, long('device', i), long('session', i), { candidates }));
    }
    await ingest(first);
    // Builds 2–71: one device keeps sending it (the alert is seen in 70 more builds).
    const later: StreamRecord[] = [];
    for (let b = 2; b <= 71; b++) later.push(...session(post, b, long('device', 0), long(`s-b${b}`, b)));
    await ingest(later);
    // Build 72 stops: only DNS. Its session end resolves every alert.
    await ingest(session(dns, 72, long('device', 0), long('s-b72', 72)));

    expect(deadLetters).toEqual([]);
    const all = await items();
    const line = lineKey(post.device, post.firmware);
    // No item comes near DynamoDB's 400 KB; the largest is an observation with its capped sets.
    const largest = Math.max(...all.map(itemBytes));
    expect(largest).toBeLessThan(40_000);
    const imei = all.find((i) => i.type === 'observation' && i.dataType === 'imei' && i.build === 'B001')!;
    expect((imei.where as Set<string>).size).toBe(SET_CAPS.where);
    expect([...(imei.setsCapped as Set<string>)]).toEqual(['where']);
    expect(imei.flows).toBe(300);
    const build1 = all.find((i) => i.sk === keys.build(line, firmware(1)).sk)!;
    expect((build1.deniedServices as Set<string>).size).toBe(SET_CAPS.deniedServices);
    expect((build1.deviceSample as Set<string>).size).toBe(SET_CAPS.deviceSample);
    expect(build1).toMatchObject({ flows: 300, sessionCount: 300, deviceCount: 300 });
    expect(build1.sessions).toBeUndefined();
    const alerts = all.filter((i) => i.type === 'alert');
    expect(alerts.length).toBeGreaterThan(0);
    for (const alert of alerts) {
      expect(alert).toMatchObject({ state: 'resolved', resolvedIn: 'B072' });
      if (alert.dataType === 'imei') {
        expect((alert.seenInBuilds as Set<string>).size).toBe(SET_CAPS.seenInBuilds);
        expect(alert.lastSeenInBuild).toBe('B071');
      }
    }

    // What readers make of it: exact counts, a sample of devices.
    const history = new FleetHistory(documentClient(client), LOCAL_NAMES.table);
    const lines = await history.lines();
    expect(lines.items).toEqual([
      expect.objectContaining({ line, builds: 72, devices: 300, sessions: 300 + 70 + 1 }),
    ]);
    const builds = await history.builds(line, { limit: 100 });
    const b1 = builds.items.find((b) => b.build === 'B001')!;
    expect(b1).toMatchObject({ devices: 300, sessions: 300, flows: 300 });
    expect(b1.deviceIds).toHaveLength(SET_CAPS.deviceSample);
  }, 300_000);
});
