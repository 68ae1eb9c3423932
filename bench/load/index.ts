import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { loadCatalog } from '../../core/catalog/bundledCatalog.ts';
import { INGEST_BATCH } from '../../core/ingest/batchSettings.ts';
import { lineKey } from '../../core/store/keys.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import { createNotifyHandler } from '../../lambdas/notify/createNotifyHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import {
  costBetween,
  costSum,
  type DynamoCost,
  meterDynamo,
  totalRequests,
} from '../../local/dynamoMeter.ts';
import { ensureStream, ensureTable, startEmulators } from '../../local/emulators.ts';
import { KinesisEventSourcePoller, type OnFailureRecord } from '../../local/kinesisEventSourcePoller.ts';
import { drainOutbox } from '../../local/localNotifier.ts';
import { KinesisSink } from '../../probe/sinks/kinesisSink.ts';
import { SessionSink } from '../../probe/sinks/sessionSink.ts';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { probeScenario } from '../../test/helpers/scenario.ts';
import { benchArgs } from '../args.ts';

/**
 * Load test of the local pipeline (kinesalite → the ingest handler as Lambda's event source drives
 * it → dynalite, then the outbox → the notify handler): ≥ 1,000,000 flow records by default,
 * reconciled count by count. A benchmark that prints its figures, not a timed test.
 *
 *   npm run bench:load [-- --flows 1000000 --lines 16 --builds 20 --devices 1 --shards 16 --chunk 50000 --batch-size 10000
 *                          --dynamo-latency-ms 10 --in-memory | --no-journal]
 *
 * On disk (the default) the run's progress is saved after each chunk; `--resume` with the same
 * options continues an interrupted run from its last whole chunk.
 *
 * Records are the bundled scenario's 14 flows (DNS, TLS, HTTP with identifiers), each copied with a
 * new flow id into `lines` device models × `builds` builds × `devices` lab devices per line (one probe run per
 * device and build), put on the
 * stream by the probe's own Kinesis sink (PutRecords of 500, partition key the device) and read
 * back in batches as the stack's event source makes them (up to --batch-size records and 6 MB): every shard at the same time, each by
 * its own ingest environment. The emulators run on a worker thread of their own. kinesalite keeps
 * a stream in memory, so the records go through in chunks, each on a fresh stream; the table (dynalite, on disk under bench/out/load-store) keeps
 * everything. Reconciled at the end: records put = records the poller delivered = flows counted
 * (metrics and the table's build items) + session ends; nothing in the dead-letter or on-failure
 * destinations; every alert raised is told once, in its incident's notification.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = benchArgs('bench:load', {
  flows: { type: 'string', default: '1000000' },
  lines: { type: 'string', default: '16' },
  builds: { type: 'string', default: '20' },
  chunk: { type: 'string', default: '50000' },
  shards: { type: 'string', default: '16' },
  // Lab devices per line testing each build (each its own session and partition key, so several
  // shards write the same build's items at once).
  devices: { type: 'string', default: '1' },
  'in-memory': { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  // Measures what the crash-safety journal of the local transaction shim costs (on disk only).
  'no-journal': { type: 'boolean', default: false },
  // Every DynamoDB request waits this long first: throughput as against the service, not loopback.
  'dynamo-latency-ms': { type: 'string', default: '0' },
  // Records per ingest invocation (the event source's batch size; the stack's ingestPipeline).
  'batch-size': { type: 'string', default: String(INGEST_BATCH.size) },
});
const FLOWS = Number(values.flows);
const LINES = Number(values.lines);
const BUILDS = Number(values.builds);
const CHUNK = Number(values.chunk);
const SHARDS = Number(values.shards);
const LATENCY_MS = Number(values['dynamo-latency-ms']);
const BATCH_SIZE = Number(values['batch-size']);
const DEVICES = Number(values.devices);
const SESSIONS = LINES * BUILDS * DEVICES;
const perSession = Math.ceil(FLOWS / SESSIONS);
const dataDir = join(root, 'bench', 'out', 'load-store');

const templates = [
  ...(await probeScenario('build-1')),
  ...(await probeScenario('build-2')),
  ...(await probeScenario('build-3')),
];
const quiet = () => undefined;
function fail(message: string): never {
  console.error(`bench:load: ${message}`);
  process.exit(2);
}

const progressFile = join(dataDir, 'progress.json');
const settings = {
  flows: FLOWS,
  lines: LINES,
  builds: BUILDS,
  devices: DEVICES,
  shards: SHARDS,
  chunk: CHUNK,
  batchSize: BATCH_SIZE,
};
for (const [name, value] of Object.entries({ ...settings, 'dynamo-latency-ms': LATENCY_MS }))
  if (!Number.isInteger(value) || value < (name === 'dynamo-latency-ms' ? 0 : 1))
    fail(
      `--${name.replace('batchSize', 'batch-size')} must be a whole number${name === 'dynamo-latency-ms' ? '' : ' ≥ 1'}`,
    );
if (BATCH_SIZE > 10_000) fail("--batch-size is at most 10,000 (the Kinesis event source's limit)");
/** Where a run stands after each chunk (on disk only): `--resume` continues from there. */
interface Progress {
  readonly settings: typeof settings;
  readonly chunkNo: number;
  readonly s: number;
  readonly put: number;
  readonly flowsPut: number;
  readonly delivered: number;
  readonly invocations: number;
  readonly putMs: number;
  readonly ingestMs: number;
  readonly elapsedMs: number;
  readonly metrics: Record<string, number>;
  readonly deadLetters: number;
  readonly onFailure: number;
  /** DynamoDB requests and capacity units of the ingest stage so far. */
  readonly ingestCost?: DynamoCost;
}
let resumed: Progress | undefined;
if (values.resume) {
  if (values['in-memory']) fail('--resume needs the table on disk (drop --in-memory)');
  const text = await readFile(progressFile, 'utf8').catch(() => undefined);
  if (!text) fail(`--resume: no run to resume (${progressFile} is missing)`);
  resumed = JSON.parse(text!) as Progress;
  if (JSON.stringify(resumed.settings) !== JSON.stringify(settings))
    fail(`--resume: the run in ${dataDir} had ${JSON.stringify(resumed.settings)}; give the same options`);
} else {
  await rm(dataDir, { recursive: true, force: true });
}
if (values['no-journal'] && values['in-memory'])
  fail('--no-journal is about the table on disk (drop --in-memory)');
const emulators = await startEmulators(values['in-memory'] ? null : dataDir, {
  journal: !values['no-journal'],
});
// Counts what ingest's DynamoDB requests cost (and delays them, with --dynamo-latency-ms).
// A session end's claims of its members and its counts (core/store/membership.ts) are counted apart.
const SESSION_END_WRITES = /MEMBERS#|"LINES"|-end"/;
const meter = meterDynamo(emulators.dynamo, {
  latencyMs: LATENCY_MS,
  part: (operation, input) =>
    /Put|Update/.test(operation) && SESSION_END_WRITES.test(JSON.stringify(input))
      ? 'session end'
      : undefined,
});
let ingestCost: DynamoCost = resumed?.ingestCost ?? { requests: {}, readUnits: 0, writeUnits: 0 };
try {
  const table = 'leakwatch-load';
  await ensureTable(emulators.dynamo, table);
  const store = new LeakwatchStore(emulators.documents, table);
  // Every execution environment has its own metrics, as on Lambda; their totals are added up.
  const environmentMetrics: CountingMetrics[] = [];
  const newMetrics = () => {
    const metrics = new CountingMetrics({ namespace: 'Leakwatch/load' });
    environmentMetrics.push(metrics);
    return metrics;
  };
  const deadLetters: unknown[] = [];
  const onFailure: OnFailureRecord[] = [];
  const catalog = loadCatalog(undefined);
  // One ingest environment per shard, the shards processed at the same time (as the event source does).
  const ingest = {
    environment: () =>
      createIngestHandler({
        store,
        deadLetters: { send: async (letter) => void deadLetters.push(letter) },
        catalog,
        log: quiet,
        observability: observability('ingest', { metrics: newMetrics() }),
      }),
  };

  // The sessions, in order: build by build, every line's session of a build before the next build
  // (so a chunk's records are spread over the lines' devices, hence shards); each a probe run of
  // perSession flows.
  const contexts: LabContext[] = [];
  for (let b = 0; b < BUILDS; b++) {
    for (let d = 0; d < DEVICES; d++) {
      for (let l = 0; l < LINES; l++) {
        const t = templates[0]!;
        const device = DEVICES === 1 ? `${l}` : `${l}-${d}`;
        contexts.push({
          device: { ...t.device, id: `load-device-${device}`, model: `LoadModel ${l}` },
          firmware: {
            ...t.firmware,
            line: `load-line-${l}`,
            build: `L${l}B${String(b).padStart(3, '0')}`,
            builtAt: new Date(Date.UTC(2026, 0, 1 + b)).toISOString(),
          },
          session: { ...t.session, id: `load-${device}-${b}` },
        } as LabContext);
      }
    }
  }

  let put = resumed?.put ?? 0;
  let flowsPut = resumed?.flowsPut ?? 0;
  let delivered = resumed?.delivered ?? 0;
  let invocations = resumed?.invocations ?? 0;
  let chunkNo = resumed?.chunkNo ?? 0;
  const started = performance.now() - (resumed?.elapsedMs ?? 0);
  let ingestMs = resumed?.ingestMs ?? 0;
  let putMs = resumed?.putMs ?? 0;
  // A chunk ends with a session: no probe run spans two streams, and a resumed run starts afresh.
  let s = resumed?.s ?? 0;
  let inSession = 0;
  let session: SessionSink | undefined;
  // What the environments of an interrupted run counted, as of its last chunk.
  const carried = resumed?.metrics ?? {};
  const totals = () => {
    const sum: Record<string, number> = { ...carried };
    for (const { totals } of environmentMetrics)
      for (const [name, value] of Object.entries(totals)) sum[name] = (sum[name] ?? 0) + value;
    return sum;
  };
  // The dead letters and on-failure records of the whole run, an interrupted part included.
  const lostSoFar = () => ({
    deadLetters: (resumed?.deadLetters ?? 0) + deadLetters.length,
    onFailure: (resumed?.onFailure ?? 0) + onFailure.length,
  });
  if (resumed)
    console.log(
      `  resuming after chunk ${chunkNo}: ${flowsPut.toLocaleString('en')} flows put and ingested (records of a chunk cut off are put again: flows already counted are seen again, not counted twice)`,
    );
  while (s < SESSIONS) {
    const stream = `load-${chunkNo++}`;
    const streamArn = await ensureStream(emulators.kinesis, stream, SHARDS);
    const sink = new KinesisSink({ client: emulators.kinesis, streamName: stream });
    let inChunk = 0;
    const t0 = performance.now();
    while (s < SESSIONS && (inChunk < CHUNK || inSession > 0)) {
      const context = contexts[s]!;
      session ??= new SessionSink(sink, context, () => new Date(), `run-${s}`);
      const template = templates[(flowsPut + s) % templates.length] as FlowRecord;
      const record = {
        ...template,
        device: context.device,
        firmware: context.firmware,
        session: context.session,
        flow: { ...template.flow, id: (flowsPut + 1).toString(16).padStart(32, '0') },
        probe: { ...template.probe },
      } as FlowRecord;
      await session.write(record);
      flowsPut++;
      inChunk++;
      inSession++;
      if (inSession === perSession || flowsPut === FLOWS) {
        // The session-end record, then the next session.
        await session.close();
        put++;
        session = undefined;
        inSession = 0;
        s++;
        if (flowsPut === FLOWS) s = SESSIONS;
      }
    }
    await sink.close();
    put += inChunk;
    putMs += performance.now() - t0;
    const t1 = performance.now();
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      streamName: stream,
      streamArn,
      handler: ingest,
      batchSize: BATCH_SIZE,
      retryAttempts: 5,
      onFailure: async (failure) => void onFailure.push(failure),
    });
    const costBefore = meter.cost();
    const stats = await poller.drain();
    ingestCost = costSum(ingestCost, costBetween(meter.cost(), costBefore));
    delivered += stats.records;
    invocations += stats.invocations;
    ingestMs += performance.now() - t1;
    await emulators.kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
    if (!values['in-memory']) {
      const progress: Progress = {
        settings,
        chunkNo,
        s,
        put,
        flowsPut,
        delivered,
        invocations,
        putMs,
        ingestMs,
        elapsedMs: performance.now() - started,
        metrics: totals(),
        ingestCost,
        ...lostSoFar(),
      };
      await writeFile(`${progressFile}.tmp`, JSON.stringify(progress));
      await rename(`${progressFile}.tmp`, progressFile);
    }
    const elapsed = (performance.now() - started) / 1000;
    process.stdout.write(
      `  ${flowsPut.toLocaleString('en')} flows put, ${delivered.toLocaleString('en')} records ingested, ${elapsed.toFixed(0)} s, ${(delivered / (ingestMs / 1000)).toFixed(0)} records/s ingest, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, heap total ${(process.memoryUsage().heapTotal / 2 ** 20).toFixed(0)} MiB\n`,
    );
  }

  const t2 = performance.now();
  const notify = createNotifyHandler({
    store,
    channels: [{ name: 'count', deliver: async () => undefined }],
    log: quiet,
    observability: observability('notify', { metrics: newMetrics() }),
  });
  const outbox = await drainOutbox(store, notify, { maxAttempts: 2, backoffMs: 1 });
  const notifyMs = performance.now() - t2;
  const totalS = (performance.now() - started) / 1000;

  // The history's own count: the build items' flow counters of every line.
  let historyFlows = 0;
  let builds = 0;
  let sessionsInHistory = 0;
  let alerts = 0;
  for (let l = 0; l < LINES; l++) {
    const context = contexts[l]!;
    const line = lineKey(context.device, context.firmware);
    for (const build of await store.builds.buildsOfLine(line)) {
      historyFlows += build.flows;
      sessionsInHistory += build.sessions;
      builds++;
    }
    alerts += (await store.alerts.alertsOfLine(line)).length;
  }
  const m = totals();
  const rows: [string, number, number][] = [
    ['flow records put = flows counted (metric)', flowsPut, m.FlowsCounted ?? 0],
    ['flow records put = flows in the history (build items)', flowsPut, historyFlows],
    ['records put (flows + session ends) = records ingested', put, delivered],
    ['sessions = sessions in the history (build items)', SESSIONS, sessionsInHistory],
    ['lines × builds = builds in the history', LINES * BUILDS, builds],
    ['alerts in the history = alerts raised (metric)', alerts, m.AlertsRaised ?? 0],
    ['alerts raised = alert events notified', m.AlertsRaised ?? 0, m.AlertEventsNotified ?? 0],
    [
      'dead letters, on-failure records, pending notifications = 0',
      0,
      Object.values(lostSoFar()).reduce((a, b) => a + b, 0) + outbox.pending,
    ],
  ];
  console.log(
    `\nleakwatch load: ${flowsPut.toLocaleString('en')} flow records, ${LINES} lines × ${BUILDS} builds${DEVICES > 1 ? ` × ${DEVICES} devices` : ''}, ${invocations.toLocaleString('en')} ingest invocations; table ${values['in-memory'] ? 'in memory' : `on disk, ${values['no-journal'] ? 'no transaction journal' : 'transactions journalled'}`}`,
  );
  const ingestRate = delivered / (ingestMs / 1000);
  console.log(
    `  put ${(put / (putMs / 1000)).toFixed(0)} records/s (kinesalite), ingest ${ingestRate.toFixed(0)} records/s over ${SHARDS} shard(s), ${(ingestRate / SHARDS).toFixed(1)} records/s per shard (handler + dynalite${LATENCY_MS > 0 ? `, every DynamoDB request delayed ${LATENCY_MS} ms` : ''}; batches of up to ${BATCH_SIZE} and 6 MB, ${(delivered / invocations).toFixed(0)} records each on average), notify ${m.NotificationsDelivered ?? 0} notifications telling ${m.AlertEventsNotified ?? 0} alerts in ${(notifyMs / 1000).toFixed(1)} s; total ${totalS.toFixed(0)} s`,
  );
  const perFlow = (n: number) => (n / flowsPut).toFixed(n / flowsPut < 0.1 ? 4 : 2);
  const requests = totalRequests(ingestCost);
  console.log(
    `  ingest DynamoDB cost: ${perFlow(ingestCost.writeUnits)} write units per flow (${ingestCost.writeUnits.toLocaleString('en')} in all; transactional items count 2), ${perFlow(ingestCost.readUnits)} read units per flow, ${perFlow(requests)} requests per flow (${Object.entries(
      ingestCost.requests,
    )
      .sort((a, b) => b[1] - a[1])
      .map(([operation, n]) => `${operation} ${n.toLocaleString('en')}`)
      .join(
        ', ',
      )}); goal (issue 16): ≤ 0.05 write units and ≤ 0.02 requests per flow, ≥ 1,000 records/s per shard at 10 ms`,
  );
  const ends = ingestCost.parts?.['session end'];
  if (ends)
    console.log(
      `  session ends (${SESSIONS.toLocaleString('en')}): member claims and counts ${(ends.writeUnits / SESSIONS).toFixed(1)} write units and ${(ends.requests / SESSIONS).toFixed(1)} requests each (${ends.writeUnits.toLocaleString('en')} write units in all, included above); line and build items hold counts, not sets, whatever the sessions`,
    );
  let ok = true;
  for (const [what, expected, got] of rows) {
    const same = expected === got;
    ok &&= same;
    console.log(
      `  ${same ? 'ok  ' : 'DIFF'} ${what}: ${expected.toLocaleString('en')} / ${got.toLocaleString('en')}`,
    );
  }
  console.log(
    `  findings ${m.Findings ?? 0}, flows seen again ${m.FlowsRepeated ?? 0}, record failures retried ${m.FailedRecords ?? 0}, item writes refused by a watermark (retries, or two writers of one shard) ${m.ItemWritesRetried ?? 0}`,
  );
  console.log(ok ? '  reconciled: every count matches' : '  NOT RECONCILED');
  process.exitCode = ok ? 0 : 1;
  // The figures bench:cost prices (docs/cost.md), kept per batch size and latency.
  const figuresFile = join(root, 'bench', 'out', 'load-figures.json');
  const figures = JSON.parse(await readFile(figuresFile, 'utf8').catch(() => '{}')) as Record<
    string,
    unknown
  >;
  figures[`batch-${BATCH_SIZE}-latency-${LATENCY_MS}`] = {
    measuredAt: new Date().toISOString(),
    reconciled: ok,
    settings: { ...settings, latencyMs: LATENCY_MS },
    flows: flowsPut,
    invocations,
    recordsPerInvocation: delivered / invocations,
    writeUnitsPerFlow: ingestCost.writeUnits / flowsPut,
    readUnitsPerFlow: ingestCost.readUnits / flowsPut,
    requestsPerFlow: requests / flowsPut,
    recordsPerSecondPerShard: ingestRate / SHARDS,
  };
  await mkdir(dirname(figuresFile), { recursive: true });
  await writeFile(figuresFile, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`  figures kept in ${figuresFile} (npm run bench:cost prices them)`);
} finally {
  await emulators.close();
}
