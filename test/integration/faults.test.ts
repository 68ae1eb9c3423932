import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import type { DeadLetter } from '../../core/ingest/deadLetter.ts';
import { SlackWebhookChannel, SnsChannel } from '../../core/notify/channels.ts';
import { KnownValueIndex, registration, ValueDigester } from '../../core/registry/knownValues.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { lineKey } from '../../core/store/keys.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import { createNotifyHandler } from '../../lambdas/notify/createNotifyHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import {
  clientConfig,
  ensureStream,
  ensureTable,
  LOCAL_NAMES,
  startEmulators,
} from '../../local/emulators.ts';
import { KinesisEventSourcePoller, type OnFailureRecord } from '../../local/kinesisEventSourcePoller.ts';
import { drainOutbox } from '../../local/localNotifier.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import type { StreamRecord } from '../../schema/flowRecord.ts';
import { scenarioRecords } from '../helpers/scenario.ts';
import { seededRandom } from '../helpers/testEvents.ts';

/**
 * The pipeline on the embedded emulators with faults injected, reconciled against a run without
 * them: the ingest function killed mid-batch, DynamoDB throttling, SNS and Slack outages, poison
 * records, records delivered twice and out of order. Every valid record is counted exactly once,
 * every alert raised and notified exactly once per channel, every poison record dead-lettered with
 * its reason, nothing left to the on-failure destination.
 */

const quiet = () => undefined;

/** A seeded shuffle (mulberry32), so a failing order can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Faults {
  /** Called before each DynamoDB request of the ingest function: an error to throw, or nothing. */
  before?(command: string, input: unknown, call: number): Error | undefined;
  /** Called after a successful request: an error to throw instead of its answer (a crash). */
  after?(command: string, input: unknown, call: number): Error | undefined;
  /** Whether the ingest function's execution environment is dead (everything it calls fails). */
  dead?: () => boolean;
  /** Wraps the ingest handler (crashes mid-invocation). */
  wrap?: (
    handler: (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse>,
  ) => (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse>;
  /** Slack answers 503 while this says so. */
  slackDown?: (call: number) => boolean;
  /** SNS Publish fails while this says so. */
  snsDown?: (call: number) => boolean;
}

interface RunResult {
  flows: Record<string, number>;
  observations: unknown[];
  alerts: unknown[];
  delivered: Record<string, string[]>;
  deadLetters: DeadLetter[];
  onFailure: OnFailureRecord[];
  metrics: Record<string, number>;
  pending: number;
}

async function runPipeline(records: readonly Buffer[], faults: Faults = {}): Promise<RunResult> {
  const emulators = await startEmulators(null);
  const sns = mockClient(SNSClient);
  try {
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    const streamArn = await ensureStream(emulators.kinesis, LOCAL_NAMES.stream, 1);
    for (let i = 0; i < records.length; i += 500) {
      await emulators.kinesis.send(
        new PutRecordsCommand({
          StreamName: LOCAL_NAMES.stream,
          Records: records.slice(i, i + 500).map((Data) => ({ Data, PartitionKey: 'redmi-lab-01' })),
        }),
      );
    }
    // The ingest function's own client: no SDK retries, so every injected fault reaches the handler.
    const ingestClient = new DynamoDBClient({ ...clientConfig(emulators.dynamoEndpoint), maxAttempts: 1 });
    let call = 0;
    ingestClient.middlewareStack.add(
      (next, context) => async (args) => {
        const n = ++call;
        const command = context.commandName ?? '';
        if (faults.dead?.()) throw new Error('the execution environment was killed');
        const before = faults.before?.(command, args.input, n);
        if (before) throw before;
        const output = await next(args);
        const after = faults.after?.(command, args.input, n);
        if (after) throw after;
        return output;
      },
      { step: 'initialize', name: 'injectFaults' },
    );
    const deadLetters: DeadLetter[] = [];
    const onFailure: OnFailureRecord[] = [];
    const metrics = new CountingMetrics({ namespace: 'Test' });
    const key = Buffer.alloc(32, 7);
    const { digests, plainLengths, fingerprints } = registration(key, REGISTRATION.values);
    const registered = new KnownValueIndex(key, digests, plainLengths, fingerprints);
    const ingest = createIngestHandler({
      store: new LeakwatchStore(documentClient(ingestClient), LOCAL_NAMES.table),
      deadLetters: {
        send: async (letter) => {
          if (faults.dead?.()) throw new Error('the execution environment was killed');
          deadLetters.push(letter);
        },
      },
      catalog: new DestinationCatalog(BUNDLED_CATALOG),
      digester: new ValueDigester(key),
      knownValues: (deviceId) => (deviceId === REGISTRATION.deviceId ? registered : undefined),
      clock: () => new Date('2026-11-21T12:00:00Z'),
      log: quiet,
      observability: observability('ingest', { metrics }),
    });
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      streamName: LOCAL_NAMES.stream,
      streamArn,
      handler: faults.wrap ? faults.wrap(ingest) : ingest,
      // As the stack configures the event source: 5 retries, bisect on error.
      retryAttempts: 5,
      batchSize: 7,
      onFailure: async (failure) => void onFailure.push(failure),
    });
    await poller.drain();

    let snsCalls = 0;
    const published: string[] = [];
    sns
      .on(PublishCommand)
      .callsFake((input: { MessageAttributes?: Record<string, { StringValue?: string }> }) => {
        if (faults.snsDown?.(++snsCalls)) {
          throw Object.assign(new Error('Service Unavailable'), {
            name: 'ServiceUnavailable',
            $fault: 'server',
          });
        }
        published.push(String(input.MessageAttributes?.notificationId?.StringValue));
        return { MessageId: `m${published.length}` };
      });
    let slackCalls = 0;
    const slackPosted: string[] = [];
    const slackFetch = (async (_url: string, init: { body: string }) => {
      if (faults.slackDown?.(++slackCalls)) return new Response('no', { status: 503 });
      slackPosted.push(init.body);
      return new Response('ok');
    }) as unknown as typeof fetch;
    const store = new LeakwatchStore(emulators.documents, LOCAL_NAMES.table);
    const deliveredIds: Record<string, string[]> = { sns: [], slack: [] };
    const track = <C extends SnsChannel | SlackWebhookChannel>(channel: C): C => {
      const deliver = channel.deliver.bind(channel);
      // What reached people, alert event by alert event (a message tells about several).
      channel.deliver = async (message) => {
        await deliver(message);
        deliveredIds[channel.name]!.push(...message.events.map((e) => e.eventId));
        return undefined;
      };
      return channel;
    };
    const notify = createNotifyHandler({
      store,
      channels: [
        track(new SnsChannel(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:1:alerts')),
        track(new SlackWebhookChannel(() => 'http://slack.invalid/hook', slackFetch)),
      ],
      log: quiet,
      observability: observability('notify', { metrics }),
    });
    const outbox = await drainOutbox(store, notify, { maxAttempts: 8, backoffMs: 1 });

    const first = JSON.parse(
      records.find((r) => r.toString().includes('"device"'))!.toString(),
    ) as StreamRecord;
    const line = lineKey(first.device, first.firmware);
    const builds = await store.builds.buildsOfLine(line);
    const flows = Object.fromEntries(builds.map((b) => [b.build, b.flows]));
    const observations = await Promise.all(
      builds.map((b) => store.builds.observationsOfBuild(line, b.build)),
    );
    const alerts = (await store.alerts.alertsOfLine(line)).map(
      ({ alertId, rule, subject, dataType, build, state, resolvedIn }) => ({
        alertId,
        rule,
        subject,
        dataType,
        build,
        state,
        resolvedIn,
      }),
    );
    return {
      flows,
      observations: observations.map((list) =>
        list
          .map(({ firstSeen, lastSeen, ...rest }) =>
            JSON.stringify(rest, (_k, v) => (v instanceof Set ? [...v].sort() : v)),
          )
          .sort(),
      ),
      alerts: alerts.sort((a, b) => a.alertId.localeCompare(b.alertId)),
      delivered: deliveredIds,
      deadLetters,
      onFailure,
      metrics: metrics.totals,
      pending: outbox.pending,
    };
  } finally {
    sns.restore();
    await emulators.close();
  }
}

describe('the pipeline under injected faults', () => {
  let builds: StreamRecord[][];
  let clean: RunResult;
  const encode = (record: StreamRecord | string) =>
    Buffer.from(typeof record === 'string' ? record : JSON.stringify(record));

  beforeAll(async () => {
    builds = await scenarioRecords();
    clean = await runPipeline(builds.flat().map((r) => encode(r)));
  }, 60_000);

  it('runs clean as the scenario describes (the reference for the faulty runs)', () => {
    expect(Object.values(clean.flows).reduce((a, b) => a + b, 0)).toBe(14);
    expect(clean.alerts).toHaveLength(15);
    expect(clean.delivered.sns).toHaveLength(30);
    expect(clean.deadLetters).toEqual([]);
    expect(clean.onFailure).toEqual([]);
  });

  describe('with every fault at once', () => {
    let faulty: RunResult;
    let poisonFlowId: string;
    let crashes = 0;
    let throttled = 0;

    beforeAll(async () => {
      // Each capture's flows arrive out of order, and build 2's records (flows and session end)
      // arrive a second time after build 3, as a probe that re-sent its spool would deliver them.
      const ordered: (StreamRecord | string)[] = [];
      builds.forEach((records, i) => {
        const end = records.at(-1)!;
        ordered.push(...shuffled(records.slice(0, -1), 17 + i), end);
      });
      ordered.push(...shuffled(builds[1]!, 99));
      // Poison: two malformed records, and a valid flow (its own probe run of build 1) whose write
      // DynamoDB refuses every time (ValidationException), followed by that run's session end.
      const template = builds[0]![0] as Extract<StreamRecord, { flow: unknown }>;
      const poison = structuredClone(template);
      poisonFlowId = 'deadbeef'.repeat(4);
      (poison.flow as { id: string }).id = poisonFlowId;
      (poison.probe as { run?: string }).run = 'run-poison';
      const poisonEnd = structuredClone(builds[0]!.at(-1)!) as Extract<StreamRecord, { kind: 'session-end' }>;
      (poisonEnd as { flows: number }).flows = 1;
      (poisonEnd.probe as { run?: string }).run = 'run-poison';
      ordered.splice(5, 0, 'not json at all', JSON.stringify({ schemaVersion: 2 }), poison, poisonEnd);

      let dead = false;
      let invocation = 0;
      let writesThisInvocation = 0;
      faulty = await runPipeline(
        ordered.map((r) => encode(r)),
        {
          dead: () => dead,
          before: (command, input, call) => {
            // The poison run's count takes no flow (its dead-letter mark it does take).
            if (
              command === 'UpdateItemCommand' &&
              JSON.stringify(input).includes('"sk":"RUN#run-poison"') &&
              !JSON.stringify(input).includes('deadLettered')
            ) {
              return Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
                name: 'ValidationException',
                $fault: 'client',
              });
            }
            // Two throttling episodes of the table, each shorter than the event source's six
            // attempts (a record failing on every attempt would go to the on-failure destination:
            // in AWS, retries are spread out in time and the SDK retries throttling itself).
            if ((call >= 40 && call < 44) || (call >= 150 && call < 154)) {
              throttled++;
              return new ProvisionedThroughputExceededException({
                message: 'Throughput exceeds the limit',
                $metadata: {},
              });
            }
            return undefined;
          },
          after: (command) => {
            // The first invocation from the third on to make three item writes is killed after
            // the third: between two item writes of one batch.
            if (
              invocation >= 3 &&
              crashes === 0 &&
              command === 'UpdateItemCommand' &&
              ++writesThisInvocation === 3
            ) {
              dead = true;
              crashes++;
              return new Error('the execution environment was killed');
            }
            return undefined;
          },
          wrap: (handler) => async (event, context) => {
            invocation++;
            writesThisInvocation = 0;
            try {
              const response = await handler(event, context);
              if (dead) throw new Error('Runtime exited with error: signal: killed');
              return response;
            } finally {
              dead = false;
            }
          },
          slackDown: (call) => call <= 12,
          snsDown: (call) => call >= 5 && call <= 9,
        },
      );
    }, 120_000);

    it('injected what it says: a crash, throttling, outages', () => {
      expect(crashes).toBe(1);
      expect(throttled).toBe(8);
    });

    it('counts every valid flow exactly once: builds and observations equal the clean run', () => {
      expect(faulty.flows).toEqual(clean.flows);
      expect(faulty.observations).toEqual(clean.observations);
      // The history is exact; the metrics of the killed invocation died with it (as in Lambda).
      expect(faulty.metrics.FlowsCounted).toBeGreaterThanOrEqual(14 - 3);
      expect(faulty.metrics.FlowsCounted).toBeLessThanOrEqual(14);
      // Build 2 delivered twice, plus the flows written before the crash and redelivered.
      expect(faulty.metrics.FlowsRepeated).toBeGreaterThanOrEqual(builds[1]!.length - 1);
    });

    it('raises and resolves every alert exactly once, and delivers each notification once per channel', () => {
      expect(faulty.alerts).toEqual(clean.alerts);
      expect(faulty.pending).toBe(0);
      for (const channel of ['sns', 'slack']) {
        const ids = faulty.delivered[channel]!;
        expect(ids).toHaveLength(30);
        expect(new Set(ids).size).toBe(30);
        expect(new Set(ids)).toEqual(new Set(clean.delivered[channel]!.map((id) => id)));
      }
    });

    it('dead-letters every poison record with its reason, and leaves nothing to the on-failure destination', () => {
      expect(faulty.onFailure).toEqual([]);
      expect(faulty.deadLetters.map((l) => [l.kind, l.reason, l.flowId])).toEqual([
        ['malformed-record', expect.stringMatching(/^record is not JSON/), undefined],
        ['malformed-record', 'unsupported schemaVersion 2; this build reads version 1', undefined],
        [
          'poison-record',
          'ValidationException: Item size has exceeded the maximum allowed size',
          poisonFlowId,
        ],
      ]);
      // The poisoned run still ended (its flow settled as dead-lettered), without resolving anything.
      expect(faulty.metrics.PoisonRecords).toBe(1);
      expect(faulty.metrics.MalformedRecords).toBe(2);
    });
  });
});
