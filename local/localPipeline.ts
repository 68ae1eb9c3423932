import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { StoredAlert } from '../core/alerts/alert.ts';
import { loadCatalog } from '../core/catalog/bundledCatalog.ts';
import { loadOfflineIpInfo } from '../core/geo/ipInfo.ts';
import { cachedReverseLookup } from '../core/geo/reverseDns.ts';
import { type NotificationChannel, SlackWebhookChannel } from '../core/notify/channels.ts';
import { type RegisteredValue, ValueDigester } from '../core/registry/knownValues.ts';
import { loadDigestKey, loadKnownValueIndexes, registerValues } from '../core/registry/registryFile.ts';
import { lineKey } from '../core/store/keys.ts';
import {
  type BuildSummary,
  LeakwatchStore,
  type ObservationItem,
  type StoredNotification,
} from '../core/store/leakwatchStore.ts';
import { createIngestHandler } from '../lambdas/ingest/createIngestHandler.ts';
import { createNotifyHandler } from '../lambdas/notify/createNotifyHandler.ts';
import { CountingMetrics, observability } from '../lambdas/shared/observability.ts';
import { runProbe } from '../probe/runProbe.ts';
import { KinesisSink } from '../probe/sinks/kinesisSink.ts';
import { SessionSink } from '../probe/sinks/sessionSink.ts';
import type { LabContext } from '../schema/flowRecord.ts';
import { ensureStream, ensureTable, LOCAL_NAMES, type LocalEmulators, startEmulators } from './emulators.ts';
import { KinesisEventSourcePoller, type PollerStats } from './kinesisEventSourcePoller.ts';
import { LocalArchive } from './localArchive.ts';
import { LocalDeadLetterFile } from './localDeadLetterSink.ts';
import { ConsoleOutboxChannel, drainOutbox, type OutboxDrainStats } from './localNotifier.ts';

export interface CaptureJob {
  readonly path: string;
  readonly context: LabContext;
}

export interface LocalPipelineOptions {
  /** History (DynamoDB), outbox and dead letters live here; a second run adds to the same history. */
  readonly dataDir: string;
  /** Keep DynamoDB in memory instead of under dataDir (tests). @default false */
  readonly inMemory?: boolean;
  readonly captures: readonly CaptureJob[];
  readonly slackWebhookUrl?: string;
  /** fetch for Slack (tests inject faults). @default fetch */
  readonly fetchImpl?: typeof fetch;
  /** Delivery attempts per run for the outbox, and the first backoff. @default 4, 200 ms */
  readonly notifyAttempts?: number;
  readonly notifyBackoffMs?: number;
  readonly print?: (text: string) => void;
  /** Where ingest warnings and errors go. @default console.error */
  readonly warn?: (text: string) => void;
  /** Devices' identifiers and canaries to register before the run (digests only are stored). */
  readonly registrations?: readonly {
    readonly deviceId: string;
    readonly values: readonly RegisteredValue[];
  }[];
  /** A catalog file extending the shipped one. @default $LEAKWATCH_CATALOG */
  readonly catalogPath?: string;
  /** Extra raw records to put on the stream after the captures (tests: malformed input). */
  readonly extraRecords?: readonly Buffer[];
}

export interface LineReport {
  readonly vendor: string;
  readonly model: string;
  readonly line: string;
  readonly builds: (BuildSummary & { observations: ObservationItem[] })[];
  readonly alerts: StoredAlert[];
}

export interface LocalPipelineResult {
  readonly recordsPut: number;
  readonly poller: PollerStats;
  /** Notifications delivered in this run (alerts raised, resolved, reopened). */
  readonly notifications: StoredNotification[];
  readonly outbox: OutboxDrainStats;
  readonly deadLetters: number;
  /** Archive rows written this run (one per delivered flow record). */
  readonly archived: number;
  /** What the functions' Powertools metrics would have published (totals by metric name). */
  readonly metrics: Readonly<Record<string, number>>;
  readonly lines: LineReport[];
  readonly paths: { outbox: string; deadLetters: string; archive: string };
}

/**
 * The whole pipeline on this machine: probe → Kinesis (kinesalite) → the ingest handler, driven
 * like Lambda's event source → DynamoDB (dynalite) → alerts to console, outbox file and Slack.
 */
export async function runLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  const print = options.print ?? console.log;
  await mkdir(options.dataDir, { recursive: true });
  const paths = {
    outbox: join(options.dataDir, 'alerts-outbox.jsonl'),
    deadLetters: join(options.dataDir, 'dead-letters.jsonl'),
    archive: LocalArchive.dirOf(options.dataDir),
  };
  const emulators: LocalEmulators = await startEmulators(options.inMemory ? null : options.dataDir);
  let archive: LocalArchive | undefined;
  try {
    const table = await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    const streamArn = await ensureStream(emulators.kinesis, LOCAL_NAMES.stream, LOCAL_NAMES.shards);
    print(
      `leakwatch local: Kinesis (kinesalite) at ${emulators.kinesisEndpoint}, DynamoDB (dynalite) at ${emulators.dynamoEndpoint}, table ${table === 'created' ? 'created' : 'reused'} in ${options.dataDir}`,
    );

    let recordsPut = 0;
    for (const job of options.captures) {
      // One probe run per capture, as `leakwatch probe` would do: flows, then the session-end record.
      const sink = new SessionSink(
        new KinesisSink({ client: emulators.kinesis, streamName: LOCAL_NAMES.stream }),
        job.context,
      );
      const stats = await runProbe(createReadStream(job.path), basename(job.path), job.context, (record) =>
        sink.write(record),
      );
      recordsPut += (await sink.close()).delivered + 1;
      const skipped = stats.skipped.total
        ? `, ${stats.skipped.total} packets skipped (${stats.skipped.summary()})`
        : '';
      print(
        `  probe ${basename(job.path)} (${job.context.firmware.build}): ${stats.packets} packets → ${stats.flows} flow records${skipped}`,
      );
    }
    if (options.extraRecords?.length) {
      await emulators.kinesis.send(
        new PutRecordsCommand({
          StreamName: LOCAL_NAMES.stream,
          Records: options.extraRecords.map((data) => ({ Data: data, PartitionKey: 'extra' })),
        }),
      );
      recordsPut += options.extraRecords.length;
    }

    const store = new LeakwatchStore(emulators.documents, LOCAL_NAMES.table);
    const digestKey = (await loadDigestKey(options.dataDir, true))!;
    for (const registration of options.registrations ?? []) {
      await registerValues(options.dataDir, registration.deviceId, registration.values, new Date());
    }
    const registry = await loadKnownValueIndexes(options.dataDir, digestKey);
    const console_ = new ConsoleOutboxChannel(paths.outbox, print);
    const channels: NotificationChannel[] = [console_];
    if (options.slackWebhookUrl)
      channels.push(new SlackWebhookChannel(() => options.slackWebhookUrl, options.fetchImpl ?? fetch));
    const deadLetters = new LocalDeadLetterFile(paths.deadLetters);
    archive = new LocalArchive(paths.archive);
    const recovered = await archive.recover();
    if (recovered > 0) print(`  archive: converted ${recovered} spool file(s) an earlier run left`);
    // The functions' metrics are kept as totals here (no CloudWatch): reported in the result.
    const metrics = new CountingMetrics({ namespace: 'Leakwatch/local' });
    const handler = createIngestHandler({
      observability: observability('ingest', { metrics }),
      store,
      deadLetters,
      archive,
      catalog: loadCatalog(options.catalogPath ?? process.env.LEAKWATCH_CATALOG),
      digester: new ValueDigester(digestKey),
      // No network here by default: reverse DNS only when asked (LEAKWATCH_REVERSE_DNS=1).
      ...(process.env.LEAKWATCH_REVERSE_DNS === '1' ? { reverseLookup: cachedReverseLookup() } : {}),
      ipInfo: loadOfflineIpInfo({}, (message) => (options.warn ?? console.error)(`  ${message}`)),
      knownValues: (deviceId) => registry.get(deviceId),
      // Local mode shows failures only; the Lambda logs every processed flow to CloudWatch.
      log: (entry) => {
        if (entry.level === 'ERROR' || entry.level === 'WARN') {
          (options.warn ?? console.error)(`  ingest ${String(entry.level)}: ${JSON.stringify(entry)}`);
        }
      },
    });
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      streamName: LOCAL_NAMES.stream,
      streamArn,
      handler,
      onFailure: (failure) => deadLetters.send(failure),
    });
    const pollerStats = await poller.drain();
    // The outbox: the same notify handler the Lambda runs, fed as the table's stream would feed it.
    const notifyHandler = createNotifyHandler({
      observability: observability('notify', { metrics }),
      store,
      channels,
      log: (entry) => {
        if (entry.level === 'ERROR') (options.warn ?? console.error)(`  notify: ${String(entry.reason)}`);
      },
    });
    const outbox = await drainOutbox(store, notifyHandler, {
      maxAttempts: options.notifyAttempts ?? 4,
      backoffMs: options.notifyBackoffMs ?? 200,
      warn: options.warn ?? console.error,
    });
    print(
      `  ingest: ${pollerStats.records} records in ${pollerStats.batches} batches (${pollerStats.invocations} invocations), ${console_.delivered.length} notifications delivered${outbox.pending ? `, ${outbox.pending} pending` : ''}, ${deadLetters.count} dead letters, ${archive.written} rows archived to ${paths.archive}`,
    );
    print(
      `  metrics: ${Object.entries(metrics.totals)
        .filter(([name]) => name !== 'ColdStart')
        .map(([name, n]) => `${name} ${n}`)
        .join(' · ')}`,
    );

    const lines: LineReport[] = [];
    const seen = new Set<string>();
    for (const { context } of options.captures) {
      const key = lineKey(context.device, context.firmware);
      if (seen.has(key)) continue;
      seen.add(key);
      const builds = await store.buildsOfLine(key);
      lines.push({
        vendor: context.device.vendor,
        model: context.device.model,
        line: context.firmware.line,
        builds: await Promise.all(
          builds.map(async (b) => ({ ...b, observations: await store.observationsOfBuild(key, b.build) })),
        ),
        alerts: await store.alertsOfLine(key),
      });
    }
    return {
      recordsPut,
      poller: pollerStats,
      notifications: console_.delivered,
      outbox,
      deadLetters: deadLetters.count,
      archived: archive.written,
      metrics: metrics.totals,
      lines,
      paths,
    };
  } finally {
    await archive?.close();
    await emulators.close();
  }
}

/** A short per-build summary: destinations and what personal data went where, and how. */
export function formatReport(result: LocalPipelineResult): string {
  const out: string[] = [];
  for (const line of result.lines) {
    out.push(`\n${line.vendor} ${line.model}, firmware line ${line.line}`);
    for (const build of line.builds) {
      const destinations = build.observations
        .filter((o) => o.dataType === '-')
        .map((o) => `${o.host} [${o.transport}]`)
        .sort();
      const data = build.observations
        .filter((o) => o.dataType !== '-')
        .map((o) => `${o.dataType} → ${o.host} [${o.transport}]`)
        .sort();
      out.push(
        `  build ${build.build} (built ${build.builtAt.slice(0, 10)}): ${build.flows} flows, ${build.sessions.length} session(s)`,
      );
      out.push(`    destinations: ${destinations.join(', ') || 'none'}`);
      out.push(`    personal data: ${data.join(', ') || 'none seen in plaintext'}`);
      const raised = line.alerts.filter((a) => a.build === build.build);
      const resolved = line.alerts.filter((a) => a.resolvedIn === build.build);
      out.push(
        `    alerts raised: ${raised.length === 0 ? 'none' : raised.map((a) => `${a.rule}/${a.dataType}`).join(', ')}`,
      );
      if (resolved.length > 0)
        out.push(`    alerts resolved: ${resolved.map((a) => `${a.rule}/${a.dataType}`).join(', ')}`);
    }
  }
  out.push(
    `\n${result.notifications.length} notification(s) delivered this run${result.outbox.pending ? ` (${result.outbox.pending} still pending)` : ''}; ${result.lines.reduce((n, l) => n + l.alerts.length, 0)} alert(s) in history, ${result.lines.reduce((n, l) => n + l.alerts.filter((a) => a.state === 'open').length, 0)} open. Outbox: ${result.paths.outbox}`,
  );
  if (result.deadLetters > 0)
    out.push(`${result.deadLetters} record(s) in the dead-letter file ${result.paths.deadLetters}`);
  return out.join('\n');
}
