import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { StoredAlert } from '../core/alerts/alert.ts';
import { openConsentAlertsResolveIn, openConsentServices } from '../core/alerts/resolution.ts';
import { loadCatalog } from '../core/catalog/bundledCatalog.ts';
import { loadOfflineIpInfo } from '../core/geo/ipInfo.ts';
import { cachedReverseLookup } from '../core/geo/reverseDns.ts';
import {
  type NotificationChannel,
  SlackAppChannel,
  type SlackAppConfig,
  SlackWebhookChannel,
} from '../core/notify/channels.ts';
import type { IncidentMessage } from '../core/notify/incident.ts';
import { type RegisteredValue, ValueDigester } from '../core/registry/knownValues.ts';
import { loadDigestKey, loadKnownValueIndexes, registerValues } from '../core/registry/registryFile.ts';
import { lineKey } from '../core/store/keys.ts';
import {
  type BuildSummary,
  LeakwatchStore,
  type ObservationItem,
  type StoredNotification,
} from '../core/store/leakwatchStore.ts';
import { sentBy } from '../core/store/outboxStore.ts';
import { createIngestHandler } from '../lambdas/ingest/createIngestHandler.ts';
import { createNotifyHandler } from '../lambdas/notify/createNotifyHandler.ts';
import { CountingMetrics, observability } from '../lambdas/shared/observability.ts';
import { CaptureFormatError } from '../probe/errors.ts';
import { probeCapture } from '../probe/probeCapture.ts';
import { KinesisSink, keepOversizedIn } from '../probe/sinks/kinesisSink.ts';
import { SessionSink } from '../probe/sinks/sessionSink.ts';
import type { TlsKeyLog } from '../probe/tls/keyLog.ts';
import type { LabContext } from '../schema/flowRecord.ts';
import { type DataDirLock, lockDataDir } from './dataDirLock.ts';
import {
  type EmulatorOptions,
  ensureStream,
  ensureTable,
  LOCAL_NAMES,
  type LocalEmulators,
  startEmulators,
} from './emulators.ts';
import { faultStep, stepAfterWrites } from './faultPoints.ts';
import {
  KinesisEventSourcePoller,
  type PollerStats,
  type ShardCheckpoints,
} from './kinesisEventSourcePoller.ts';
import { LocalArchive } from './localArchive.ts';
import { LocalDeadLetterFile } from './localDeadLetterSink.ts';
import { ConsoleOutboxChannel, drainOutbox, type OutboxDrainStats } from './localNotifier.ts';

/** One probe run (one lab session): its captures, read in order, then its session-end record. */
export interface CaptureJob {
  readonly captures: readonly string[];
  readonly context: LabContext;
}

export interface LocalPipelineOptions {
  /** History (DynamoDB), outbox and dead letters live here; a second run adds to the same history. */
  readonly dataDir: string;
  /** The command running it, named to whoever finds the data directory in use. @default run */
  readonly command?: string;
  /** Keep DynamoDB in memory instead of under dataDir (tests). @default false */
  readonly inMemory?: boolean;
  readonly captures: readonly CaptureJob[];
  readonly slackWebhookUrl?: string;
  /** A Slack app instead of the webhook: threads an incident's later messages. */
  readonly slackApp?: SlackAppConfig & { readonly apiUrl?: string };
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
  /** Called with the store once the run is ingested and delivered, before the emulators stop (leakwatch check). */
  readonly inspect?: (store: LeakwatchStore) => Promise<void>;
  /** TLS secrets: TLS flows of the captures whose keys are here are decrypted (--keylog). */
  readonly keyLog?: TlsKeyLog;
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

/** How one notification channel fared this run. */
export interface ChannelReport {
  readonly channel: string;
  readonly delivered: number;
  /** Notifications this channel has not had yet (kept in the outbox; the next run or serve retries). */
  readonly pending: number;
  readonly failedAttempts: number;
  /** Each distinct error and how often it happened. */
  readonly causes: readonly (readonly [cause: string, count: number])[];
}

/** A capture the probe could not read to the end (its session is not ended: no alert resolves from it). */
export interface CaptureFailure {
  readonly capture: string;
  readonly message: string;
}

export interface LocalPipelineResult {
  readonly recordsPut: number;
  readonly captureFailures: readonly CaptureFailure[];
  readonly channels: readonly ChannelReport[];
  readonly poller: PollerStats;
  /** Notifications delivered in this run (alerts raised, resolved, reopened). */
  /** The messages written to the console and outbox file in this run (one per notification, plus follow-ups). */
  readonly notifications: IncidentMessage[];
  readonly outbox: OutboxDrainStats;
  readonly deadLetters: number;
  /** Records over Kinesis's 1 MiB limit, kept in <data dir>/oversized/ instead of sent. */
  readonly oversized: number;
  /** Archive rows written this run (one per delivered flow record). */
  readonly archived: number;
  /** What the functions' Powertools metrics would have published (totals by metric name). */
  readonly metrics: Readonly<Record<string, number>>;
  readonly lines: LineReport[];
  readonly paths: { outbox: string; deadLetters: string; archive: string };
}

/** What `run` and `serve` share: the emulators, the store, and the functions' handlers as Lambda runs them. */
export interface LocalStackOptions {
  readonly dataDir: string;
  readonly command: string;
  readonly inMemory?: boolean;
  readonly kinesis?: EmulatorOptions['kinesis'];
  readonly checkpoints?: ShardCheckpoints;
  readonly slackWebhookUrl?: string;
  /** A Slack app instead of the webhook: threads an incident's later messages. */
  readonly slackApp?: SlackAppConfig & { readonly apiUrl?: string };
  readonly fetchImpl?: typeof fetch;
  readonly catalogPath?: string;
  readonly registrations?: LocalPipelineOptions['registrations'];
  readonly print: (text: string) => void;
  readonly warn: (text: string) => void;
}

export interface LocalStack {
  readonly emulators: LocalEmulators;
  readonly store: LeakwatchStore;
  readonly lock: DataDirLock;
  readonly table: 'created' | 'existed';
  readonly poller: KinesisEventSourcePoller;
  readonly console: ConsoleOutboxChannel;
  readonly deadLetters: LocalDeadLetterFile;
  readonly archive: LocalArchive;
  readonly metrics: CountingMetrics;
  readonly paths: LocalPipelineResult['paths'];
  /** Reloads the device registry when registry.json changed (devices registered meanwhile). */
  refreshRegistry(): Promise<boolean>;
  /** Delivers what the outbox holds with the notify handler; per-channel counts of this stack's life. */
  deliver(maxAttempts: number, backoffMs: number): Promise<OutboxDrainStats>;
  channelReports(): Promise<ChannelReport[]>;
  close(): Promise<void>;
}

/**
 * Opens the local stack on a data directory: takes the directory (one process at a time), starts
 * kinesalite and dynalite, makes the table and stream if they are not there, registers what is
 * given, and builds the ingest and notify handlers exactly as the Lambda functions are built.
 */
export async function openLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { print, warn } = options;
  await mkdir(options.dataDir, { recursive: true });
  const paths = {
    outbox: join(options.dataDir, 'alerts-outbox.jsonl'),
    deadLetters: join(options.dataDir, 'dead-letters.jsonl'),
    archive: LocalArchive.dirOf(options.dataDir),
  };
  const lock = await lockDataDir(options.dataDir, options.command);
  let emulators: LocalEmulators;
  try {
    emulators = await startEmulators(options.inMemory ? null : options.dataDir, {
      ...(options.kinesis ? { kinesis: options.kinesis } : {}),
    });
  } catch (error) {
    lock.release();
    throw error;
  }
  try {
    stepAfterWrites(emulators.dynamo, 'dynamodb', (c) =>
      /^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(c),
    );
    stepAfterWrites(emulators.kinesis, 'kinesis', (c) => /^PutRecords?Command$/.test(c));
    const table = await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    const streamArn = await ensureStream(emulators.kinesis, LOCAL_NAMES.stream, LOCAL_NAMES.shards);
    const store = new LeakwatchStore(emulators.documents, LOCAL_NAMES.table);
    const digestKey = (await loadDigestKey(options.dataDir, true))!;
    for (const registration of options.registrations ?? []) {
      await registerValues(options.dataDir, registration.deviceId, registration.values, new Date());
    }
    const registryPath = join(options.dataDir, 'registry.json');
    const registryStamp = async () => (await stat(registryPath).catch(() => undefined))?.mtimeMs ?? 0;
    let registryLoadedAt = await registryStamp();
    let registry = await loadKnownValueIndexes(options.dataDir, digestKey);
    const console_ = new ConsoleOutboxChannel(paths.outbox, print);
    const channels = [new TalliedChannel(console_)];
    if (options.slackApp) {
      const { apiUrl, ...config } = options.slackApp;
      channels.push(
        new TalliedChannel(new SlackAppChannel(() => config, options.fetchImpl ?? fetch, apiUrl)),
      );
    } else if (options.slackWebhookUrl)
      channels.push(
        new TalliedChannel(
          new SlackWebhookChannel(() => options.slackWebhookUrl, options.fetchImpl ?? fetch),
        ),
      );
    const deadLetters = new LocalDeadLetterFile(paths.deadLetters);
    const archive = new LocalArchive(paths.archive);
    const recovered = await archive.recover();
    if (recovered > 0) print(`  archive: converted ${recovered} spool file(s) an earlier run left`);
    // The functions' metrics are kept as totals here (no CloudWatch).
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
      ipInfo: loadOfflineIpInfo({}, (message) => warn(`  ${message}`)),
      knownValues: (deviceId) => registry.get(deviceId),
      // Local mode shows failures only; the Lambda logs every processed flow to CloudWatch.
      log: (entry) => {
        if (entry.level === 'ERROR' || entry.level === 'WARN')
          warn(`  ingest ${String(entry.level)}: ${JSON.stringify(entry)}`);
      },
    });
    const poller = new KinesisEventSourcePoller({
      client: emulators.kinesis,
      streamName: LOCAL_NAMES.stream,
      streamArn,
      handler,
      onFailure: (failure) => deadLetters.send(failure),
      ...(options.checkpoints ? { checkpoints: options.checkpoints } : {}),
    });
    // The outbox: the same notify handler the Lambda runs, fed as the table's stream would feed it.
    // Failed deliveries are summed per channel (channelReports), not logged per attempt.
    const notifyHandler = createNotifyHandler({
      observability: observability('notify', { metrics }),
      store,
      channels,
      log: () => undefined,
    });
    return {
      emulators,
      store,
      lock,
      table,
      poller,
      console: console_,
      deadLetters,
      archive,
      metrics,
      paths,
      async refreshRegistry() {
        const stamp = await registryStamp();
        if (stamp === registryLoadedAt) return false;
        registryLoadedAt = stamp;
        registry = await loadKnownValueIndexes(options.dataDir, digestKey);
        return true;
      },
      deliver: (maxAttempts, backoffMs) => drainOutbox(store, notifyHandler, { maxAttempts, backoffMs }),
      async channelReports() {
        const pending = await store.outbox.pendingNotifications();
        return channels.map((c) => c.report(pending));
      },
      async close() {
        try {
          await archive.close();
        } finally {
          await emulators.close();
          lock.release();
        }
      },
    };
  } catch (error) {
    await emulators.close();
    lock.release();
    throw error;
  }
}

/**
 * The whole pipeline on this machine: probe → Kinesis (kinesalite) → the ingest handler, driven
 * like Lambda's event source → DynamoDB (dynalite) → alerts to console, outbox file and Slack.
 */
export async function runLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  const print = options.print ?? console.log;
  const warn = options.warn ?? console.error;
  const stack = await openLocalStack({
    dataDir: options.dataDir,
    command: options.command ?? 'run',
    ...(options.inMemory ? { inMemory: true } : {}),
    ...(options.slackWebhookUrl ? { slackWebhookUrl: options.slackWebhookUrl } : {}),
    ...(options.slackApp ? { slackApp: options.slackApp } : {}),
    ...(options.fetchImpl ? { fetchImpl: options.fetchImpl } : {}),
    ...(options.catalogPath ? { catalogPath: options.catalogPath } : {}),
    ...(options.registrations ? { registrations: options.registrations } : {}),
    print,
    warn,
  });
  const { emulators, store, paths } = stack;
  try {
    print(
      `leakwatch local: Kinesis (kinesalite) at ${emulators.kinesisEndpoint}, DynamoDB (dynalite) at ${emulators.dynamoEndpoint}, table ${stack.table} in ${options.dataDir}`,
    );
    let recordsPut = 0;
    let oversized = 0;
    const captureFailures: CaptureFailure[] = [];
    const keepOversized = keepOversizedIn(join(options.dataDir, 'oversized'), (text) => warn(`  ${text}`));
    for (const job of options.captures) {
      // One probe run per session, as `leakwatch probe` does: its flows, then the session-end record.
      const stream = new KinesisSink({
        client: emulators.kinesis,
        streamName: LOCAL_NAMES.stream,
        // A record over 1 MiB (HAR input can make one) is kept, owner-only, and the run goes on.
        onOversized: keepOversized,
      });
      const sink = new SessionSink(stream, job.context);
      const build = job.context.firmware.build;
      let capture = '';
      try {
        for (capture of job.captures)
          print(
            `  probe ${await probeCapture(capture, job.context, (record) => sink.write(record), options.keyLog ? { keyLog: options.keyLog } : {})} (build ${build})`,
          );
        recordsPut += (await sink.close()).delivered + 1;
      } catch (error) {
        if (!(error instanceof CaptureFormatError)) throw error;
        // What was read before the damage is real traffic: it is sent and counted. The session is
        // not ended, though: a capture cut short must not look like a build that stopped leaking.
        recordsPut += (await stream.close()).delivered;
        captureFailures.push({ capture, message: error.message });
        print(
          `  probe ${capture}: ${error.message}\n    session ${job.context.session.id} (build ${build}) is not ended: flows read before this are counted, no alert is resolved from it`,
        );
      }
      oversized += stream.setAside();
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
    const pollerStats = await stack.poller.drain();
    const outbox = await stack.deliver(options.notifyAttempts ?? 4, options.notifyBackoffMs ?? 200);
    const channelReports = await stack.channelReports();
    print(
      `  ingest: ${pollerStats.records} records in ${pollerStats.batches} batches (${pollerStats.invocations} invocations), ${stack.deadLetters.count} dead letters, ${stack.archive.written} rows archived to ${paths.archive}`,
    );
    print(
      `  metrics: ${Object.entries(stack.metrics.totals)
        .filter(([name]) => name !== 'ColdStart')
        .map(([name, n]) => `${name} ${n}`)
        .join(' · ')}`,
    );
    await options.inspect?.(store);
    const lines: LineReport[] = [];
    const seen = new Set<string>();
    for (const { context } of options.captures) {
      const key = lineKey(context.device, context.firmware);
      if (seen.has(key)) continue;
      seen.add(key);
      const builds = await store.builds.buildsOfLine(key);
      lines.push({
        vendor: context.device.vendor,
        model: context.device.model,
        line: context.firmware.line,
        builds: await Promise.all(
          builds.map(async (b) => ({
            ...b,
            observations: await store.builds.observationsOfBuild(key, b.build),
          })),
        ),
        alerts: await store.alerts.alertsOfLine(key),
      });
    }
    return {
      recordsPut,
      captureFailures,
      channels: channelReports,
      poller: pollerStats,
      notifications: stack.console.delivered,
      outbox,
      deadLetters: stack.deadLetters.count,
      oversized,
      archived: stack.archive.written,
      metrics: stack.metrics.totals,
      lines,
      paths,
    };
  } finally {
    await stack.close();
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
        `  build ${build.build} (built ${build.builtAt.slice(0, 10)}): ${build.flows} flows, ${build.sessions} session(s)`,
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
  const alerts = result.lines.flatMap((l) => l.alerts);
  out.push('');
  out.push(
    `${alerts.length} alert(s) in the history of ${result.lines.length === 1 ? 'this line' : `these ${result.lines.length} lines`}, ${alerts.filter((a) => a.state === 'open').length} open.`,
  );
  for (const service of openConsentServices(alerts)) out.push(`${openConsentAlertsResolveIn(service)}.`);
  out.push(...deliveryLines(result.channels), `Outbox: ${result.paths.outbox}`);
  if (result.deadLetters > 0)
    out.push(`${result.deadLetters} record(s) in the dead-letter file ${result.paths.deadLetters}`);
  for (const failure of result.captureFailures)
    out.push(`capture not read to the end: ${failure.message} (its session was not ended)`);
  return out.join('\n');
}

/**
 * What each channel delivered and what it still owes: one line per channel, each distinct failure
 * cause once with its count. Delivered and pending never contradict: a notification is pending on
 * a channel until that channel has had it.
 */
export function deliveryLines(reports: readonly ChannelReport[]): string[] {
  const lines = reports.map((r) => {
    const name = r.channel === 'sns' ? 'console and outbox (SNS stand-in)' : r.channel;
    const pending = r.pending > 0 ? `, ${r.pending} pending` : '';
    const causes = r.causes.map(([cause, n]) => `${cause} (${n}×)`).join('; ');
    const failed = r.failedAttempts > 0 ? `; ${r.failedAttempts} failed attempts: ${causes}` : '';
    return `notifications to ${name}: ${r.delivered} delivered this run${pending}${failed}`;
  });
  if (reports.some((r) => r.pending > 0))
    lines.push(
      'pending notifications stay in the outbox: the next leakwatch run (or leakwatch serve) delivers them',
    );
  return lines;
}

/** A channel that counts its deliveries and failures (by cause) for the run's summary. */
class TalliedChannel implements NotificationChannel {
  readonly name: string;
  private delivered = 0;
  private failedAttempts = 0;
  private readonly causes = new Map<string, number>();

  readonly deduplicates: boolean;
  readonly arrived: NotificationChannel['arrived'];

  constructor(private readonly inner: NotificationChannel) {
    this.name = inner.name;
    this.deduplicates = inner.deduplicates === true;
    this.arrived = inner.arrived?.bind(inner);
  }

  async deliver(message: IncidentMessage): Promise<{ thread?: string } | undefined> {
    try {
      const answer = await this.inner.deliver(message);
      faultStep(`${this.name} sent ${message.notification.notificationId}`);
      this.delivered++;
      return answer;
    } catch (error) {
      this.failedAttempts++;
      const cause = (error as Error).message;
      this.causes.set(cause, (this.causes.get(cause) ?? 0) + 1);
      throw error;
    }
  }

  report(pending: readonly StoredNotification[]): ChannelReport {
    return {
      channel: this.name,
      delivered: this.delivered,
      pending: pending.filter((n) => sentBy(n, this.name).size < n.members.size).length,
      failedAttempts: this.failedAttempts,
      causes: [...this.causes],
    };
  }
}
