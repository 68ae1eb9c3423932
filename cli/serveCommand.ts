import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { ConfigFileError } from '../core/config/strictParse.ts';
import { type Registration, readRegistrationFile } from '../core/registry/registrationFile.ts';
import { EXIT, untilSignalled } from '../probe/probeCommand.ts';
import type { CliIo } from './openStore.ts';
import { type LocalSlackSettings, SlackSettingsError, slackSettingsFromEnv } from './slackSettings.ts';
import { dataDirOf } from './stackOutputs.ts';

/** Where serve keeps each shard's position: the stream it belongs to (a new stream starts over) and the last sequence numbers. */
interface CheckpointFile {
  readonly stream: string;
  readonly shards: Record<string, string>;
}

/**
 * `leakwatch serve`: the local stack kept running for live collection without AWS. kinesalite
 * listens where probes on other lab hosts reach it and keeps what it accepted on disk; the ingest
 * and notify handlers are driven as on AWS (polling the stream, each shard's position checkpointed
 * after every batch); the history commands read the same store meanwhile. Ctrl-C (SIGINT/SIGTERM)
 * finishes the batch under way, delivers what is pending and stops; a restart resumes after the last
 * checkpoint, and ingest counts a batch processed twice (a crash before its checkpoint) once.
 */
export async function serveCommand(
  options: Record<string, unknown>,
  io: CliIo,
  stopSignal: () => Promise<string> = untilSignalled,
): Promise<number> {
  const say = (text: string) => io.stderr.write(`leakwatch serve: ${text}\n`);
  const print = (text: string) => io.stdout.write(`${text}\n`);
  const host = String(options.host ?? '127.0.0.1');
  const port = Number(options.port ?? 4567);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    say(`--port "${options.port}": a port number from 0 to 65535 (0: any free port)`);
    return EXIT.usage;
  }
  const pollMs = Number(options.pollMs ?? 250);
  const registrations: Registration[] = [];
  try {
    for (const path of (options.register as string[] | undefined) ?? [])
      registrations.push(await readRegistrationFile(path));
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    say(error.message);
    return EXIT.usage;
  }
  const dataDir = dataDirOf(options.dataDir as string | undefined);
  const checkpointPath = join(dataDir, 'serve-checkpoints.json');
  let checkpoint: CheckpointFile = { stream: '', shards: {} };
  try {
    checkpoint = JSON.parse(readFileSync(checkpointPath, 'utf8')) as CheckpointFile;
  } catch {}
  let streamId = '';
  const checkpoints = {
    get: (shardId: string) => (checkpoint.stream === streamId ? checkpoint.shards[shardId] : undefined),
    async set(shardId: string, sequenceNumber: string) {
      checkpoint = {
        stream: streamId,
        shards: { ...(checkpoint.stream === streamId ? checkpoint.shards : {}), [shardId]: sequenceNumber },
      };
      await writeFile(`${checkpointPath}.tmp`, JSON.stringify(checkpoint));
      await rename(`${checkpointPath}.tmp`, checkpointPath);
    },
  };

  const { openLocalStack, deliveryLines } = await import('../local/localPipeline.ts');
  const { LOCAL_NAMES, LocalTableError } = await import('../local/emulators.ts');
  const { DataDirBusyError } = await import('../local/dataDirLock.ts');
  let slack: LocalSlackSettings;
  try {
    slack = slackSettingsFromEnv();
  } catch (error) {
    if (!(error instanceof SlackSettingsError)) throw error;
    io.stderr.write(`leakwatch serve: ${error.message}\n`);
    return EXIT.usage;
  }
  let stack: Awaited<ReturnType<typeof openLocalStack>>;
  try {
    stack = await openLocalStack({
      dataDir,
      command: 'serve',
      kinesis: { persist: true, host, port },
      checkpoints,
      registrations,
      ...slack,
      ...(options.catalog ? { catalogPath: String(options.catalog) } : {}),
      print,
      warn: (text) => io.stderr.write(`${text}\n`),
    });
  } catch (error) {
    if (error instanceof DataDirBusyError || error instanceof LocalTableError) {
      say(error.message);
      return EXIT.usage;
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      say(`${host}:${port} is in use (another leakwatch serve?): choose another with --port`);
      return EXIT.usage;
    }
    throw error;
  }
  try {
    const { StreamDescriptionSummary: summary } = await stack.emulators.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: LOCAL_NAMES.stream }),
    );
    streamId = `${summary?.StreamARN}@${summary?.StreamCreationTimestamp?.toISOString()}`;
    const endpoint = stack.emulators.kinesisEndpoint;
    const reachable =
      host === '0.0.0.0' || host === '::' ? endpoint.replace(/\/\/[^:]+:/, `//${hostname()}:`) : endpoint;
    stack.lock.describe({
      dynamoEndpoint: stack.emulators.dynamoEndpoint,
      kinesisEndpoint: endpoint,
      stream: LOCAL_NAMES.stream,
    });
    print(
      [
        `leakwatch serve: Kinesis endpoint ${endpoint} (stream ${LOCAL_NAMES.stream}, ${LOCAL_NAMES.shards} shards, kept in ${join(dataDir, 'kinesis')}), store ${dataDir}`,
        '  stream a capture or live traffic into it from any lab host:',
        `    leakwatch probe --kinesis-endpoint ${reachable} --kinesis-stream ${LOCAL_NAMES.stream} --lab-config LAB.json CAPTURE`,
        `    leakwatch probe --kinesis-endpoint ${reachable} --kinesis-stream ${LOCAL_NAMES.stream} --lab-config LAB.json --listen udp://0.0.0.0:5123   # PCAPdroid`,
        `  history meanwhile: leakwatch alerts${options.dataDir ? ` --data-dir ${dataDir}` : ''} (and builds, build, diff, report, …)`,
        '  Ctrl-C stops it; a restart goes on where it stopped.',
      ].join('\n'),
    );
    let stopping: string | undefined;
    const stopped = stopSignal().then((signal) => {
      stopping = signal;
    });
    const seen = { records: 0, flows: 0, raised: 0, resolved: 0 };
    let lastDelivery = 0;
    let pending = (await stack.store.outbox.pendingNotifications()).length;
    const cycle = async () => {
      if (await stack.refreshRegistry()) print('  device registry changed: reloaded');
      const before = stack.poller.stats.records;
      await stack.poller.drain();
      const ingested = stack.poller.stats.records - before;
      if (ingested > 0) {
        const totals = stack.metrics.totals;
        const now = {
          records: stack.poller.stats.records,
          flows: totals.FlowsCounted ?? 0,
          raised: totals.AlertsRaised ?? 0,
          resolved: totals.AlertsResolved ?? 0,
        };
        print(
          `  ${new Date().toISOString().slice(11, 19)} ingested ${ingested} record(s): ${now.flows - seen.flows} flows counted, ${now.raised - seen.raised} alerts raised, ${now.resolved - seen.resolved} resolved`,
        );
        Object.assign(seen, now);
        pending = (await stack.store.outbox.pendingNotifications()).length;
      }
      // New notifications go out at once; a channel that failed is tried again every 5 s.
      if (pending > 0 && (ingested > 0 || Date.now() - lastDelivery > 5000)) {
        lastDelivery = Date.now();
        pending = (await stack.deliver(1, 0)).pending;
      }
    };
    while (!stopping) {
      await cycle();
      await Promise.race([delay(pollMs), stopped]);
    }
    // What arrived before the signal is finished: one last pass, then every pending delivery.
    await cycle();
    if (pending > 0) await stack.deliver(3, 200);
    print(
      `leakwatch serve: ${stopping}: stopped after ${stack.poller.stats.records} records (${stack.poller.stats.invocations} invocations), ${stack.deadLetters.count} dead letters`,
    );
    for (const line of deliveryLines(await stack.channelReports())) print(`  ${line}`);
    return EXIT.ok;
  } finally {
    await stack.close();
  }
}
