import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AwsSetupError, checkAwsSetup } from '../core/config/awsSetup.ts';
import type { FlowRecord } from '../schema/flowRecord.ts';
import { CaptureFormatError, DeliveryError, ProbeUsageError, ProbeWorkerError } from './errors.ts';
import { EXIT } from './exitCodes.ts';
import { type LabContextFlags, loadLabContext } from './labContext.ts';
import { type LiveListener, listenPcapdroidUdp } from './live/pcapdroidUdpListener.ts';
import { listenPcapOverTcp } from './live/pcapOverTcpListener.ts';
import { checkCaptureReadable, probeCapture } from './probeCapture.ts';
import type { FlowSink } from './sinks/flowSink.ts';
import { NdjsonSink } from './sinks/ndjsonSink.ts';
import { SessionSink } from './sinks/sessionSink.ts';
import { readKeyLogs } from './tls/readKeyLogs.ts';

export interface ProbeCommandOptions extends LabContextFlags {
  listen?: string;
  kinesisStream?: string;
  /** A Kinesis-compatible endpoint (leakwatch serve, an emulator); `endpoint` is its older name. */
  kinesisEndpoint?: string;
  endpoint?: string;
  awsRegion?: string;
  ndjson?: boolean;
  /** Where records the stream refuses wait (default ~/.leakwatch/spool/<stream>). */
  spoolDir?: string;
  /** Send what is spooled, read no capture. */
  sendSpool?: boolean;
  /** Flow-table threads for capture files (a number; default: the cores up to 4, for files ≥ 16 MB). */
  threads?: string;
  /** Sender addresses the UDP listener takes datagrams from (default: the first to send a pcap header). */
  allow?: string[];
  /** NSS key logs (SSLKEYLOGFILE) whose secrets decrypt TLS flows; repeatable. */
  keylog?: string[];
  /** PutRecords attempts before records are spooled (tests; no flag). @default 8 */
  putAttempts?: number;
}

export { EXIT };

/** The spool of a stream: --spool-dir, or one directory per stream under ~/.leakwatch/spool. */
export function spoolDirOf(options: Pick<ProbeCommandOptions, 'spoolDir' | 'kinesisStream'>): string {
  if (options.spoolDir) return options.spoolDir;
  const stream = (options.kinesisStream ?? '')
    .split('/')
    .pop()!
    .replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(homedir(), '.leakwatch', 'spool', stream);
}

export interface ProbeIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

async function makeSink(
  options: ProbeCommandOptions,
  io: ProbeIo,
  say: (line: string) => void,
): Promise<FlowSink & { sendSpooled?(): Promise<boolean> }> {
  if (options.kinesisStream && options.ndjson) {
    throw new ProbeUsageError('choose one output: --kinesis-stream NAME or --ndjson, not both');
  }
  if (!options.kinesisStream) return new NdjsonSink(io.stdout);
  // The AWS SDK takes a noticeable time to load: only when records go to Kinesis.
  const [{ KinesisClient }, { NodeHttpHandler }, { KinesisSink, keepOversizedIn }, { Spool }] =
    await Promise.all([
      import('@aws-sdk/client-kinesis'),
      import('@smithy/node-http-handler'),
      import('./sinks/kinesisSink.ts'),
      import('./sinks/spool.ts'),
    ]);
  const endpoint = options.kinesisEndpoint ?? options.endpoint;
  const endpointConfig = endpoint ? { endpoint, requestHandler: new NodeHttpHandler() } : {};
  let client = new KinesisClient({
    ...(options.awsRegion ? { region: options.awsRegion } : {}),
    ...endpointConfig,
  });
  // A missing region or credentials is a setup error, found before any record is read.
  try {
    await checkAwsSetup(client);
  } catch (error) {
    if (!(error instanceof AwsSetupError)) throw error;
    client.destroy();
    if (!endpoint) throw new ProbeUsageError(error.message, { cause: error });
    // leakwatch serve and other emulators take any credentials: placeholders, said once.
    say(`${error.message.split(':')[0]}: using placeholders for ${endpoint} (enough for leakwatch serve)`);
    client = new KinesisClient({
      region: options.awsRegion ?? 'us-east-1',
      credentials: { accessKeyId: 'leakwatch-local', secretAccessKey: 'leakwatch-local' },
      ...endpointConfig,
    });
  }
  const spool = new Spool(spoolDirOf(options));
  return new KinesisSink({
    client,
    spool,
    // A record over 1 MiB (HAR input can make one) is kept on disk, owner-only, and the run goes on.
    onOversized: keepOversizedIn(join(spoolDirOf(options), 'oversized'), say),
    ...(options.putAttempts ? { maxAttempts: options.putAttempts } : {}),
    onSpooling: (records, lastError) =>
      say(
        `stream unreachable (${lastError}): spooling records to ${spool.dir} until it takes them again (${records} so far)`,
      ),
    ...(options.kinesisStream.startsWith('arn:')
      ? { streamArn: options.kinesisStream }
      : { streamName: options.kinesisStream }),
  });
}

function spooledMessage(spooled: number | undefined, options: ProbeCommandOptions): string | undefined {
  if (!spooled) return undefined;
  return `${spooled} records (flow and session-end) are spooled in ${spoolDirOf(options)}: the stream did not take them. Nothing is lost; the next probe run on this stream sends them first, or run: leakwatch probe --send-spool --kinesis-stream ${options.kinesisStream}${options.spoolDir ? ` --spool-dir ${options.spoolDir}` : ''}`;
}

/** `--allow HOST` (repeatable): IP addresses, and only with the UDP listener; checked before anything starts. */
function parseAllow(allow: readonly string[], listen: { protocol: 'udp' | 'tcp' } | undefined): string[] {
  if (allow.length === 0) return [];
  if (!listen) throw new ProbeUsageError('--allow is for live input (--listen udp://HOST:PORT)');
  if (listen.protocol !== 'udp')
    throw new ProbeUsageError('--allow is for the UDP listener (udp://HOST:PORT)');
  for (const address of allow)
    if (isIP(address) === 0)
      throw new ProbeUsageError(`--allow "${address}" is not an IP address (e.g. --allow 192.168.1.23)`);
  return [...allow];
}

/** `--threads N`: a whole number from 1 to 256, or undefined when not given. */
export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 256)
    throw new ProbeUsageError(`--threads "${value}" is not a whole number from 1 to 256 (e.g. --threads 2)`);
  return n;
}

/** `udp://HOST:PORT` or `tcp://HOST:PORT`. */
export function parseListenUrl(url: string): { protocol: 'udp' | 'tcp'; host: string; port: number } {
  const match = /^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(url);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new ProbeUsageError(
      `--listen "${url}" is not udp://HOST:PORT or tcp://HOST:PORT (examples: udp://127.0.0.1:5123 for PCAPdroid's UDP exporter, tcp://0.0.0.0:57012 for pcap over TCP)`,
    );
  }
  return { protocol: match[1] as 'udp' | 'tcp', host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

/** Resolves on the first SIGINT or SIGTERM (the way to stop a live probe). */
export const untilSignalled = () =>
  new Promise<string>((resolve) => {
    const done = (signal: string) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });

/**
 * `leakwatch probe`: reads each capture in turn and sends its flow records to Kinesis or stdout.
 * Returns the exit code; messages go to stderr and say what was wrong and where.
 */
export async function probeCommand(
  captures: string[],
  options: ProbeCommandOptions,
  io: ProbeIo,
  stopSignal: () => Promise<string> = untilSignalled,
): Promise<number> {
  const say = (line: string) => io.stderr.write(`leakwatch probe: ${line}\n`);
  try {
    if (options.sendSpool) {
      if (!options.kinesisStream) throw new ProbeUsageError('--send-spool needs --kinesis-stream');
      if (captures.length > 0 || options.listen)
        throw new ProbeUsageError('--send-spool sends the spool only: give no capture and no --listen');
      const sink = await makeSink(options, io, say);
      const empty = await sink.sendSpooled!();
      const stats = await sink.close();
      if (!empty || stats.spooled) {
        say(
          `${stats.spooled ?? 0} records still spooled in ${spoolDirOf(options)}: the stream refuses them; try again later`,
        );
        return EXIT.spooled;
      }
      say(`${stats.delivered} spooled records put on stream ${options.kinesisStream}; the spool is empty`);
      return EXIT.ok;
    }
    if (options.listen && captures.length > 0)
      throw new ProbeUsageError('give captures or --listen, not both');
    if (!options.listen && captures.length === 0) {
      throw new ProbeUsageError(
        'no capture given (a pcap, pcapng or HAR file, - for stdin, or --listen udp://HOST:PORT)',
      );
    }
    const listen = options.listen ? parseListenUrl(options.listen) : undefined;
    const threads = parseThreads(options.threads);
    if (listen && threads !== undefined)
      throw new ProbeUsageError('--threads is for capture files: live input is read by one thread');
    const keylogs = options.keylog ?? [];
    const allow = parseAllow(options.allow ?? [], listen);
    if (listen && keylogs.length > 0)
      throw new ProbeUsageError(
        '--keylog is for capture files: live input is not decrypted (capture to a file, then probe it with --keylog)',
      );
    const keyLog = await readKeyLogs(keylogs, say);
    const context = await loadLabContext(options);
    if (listen) {
      const sink = new SessionSink(await makeSink(options, io, say), context);
      const emit = (record: FlowRecord) => sink.write(record);
      const listenerOptions = { host: listen.host, port: listen.port, context, emit, warn: say, allow };
      let listener: LiveListener;
      try {
        listener =
          listen.protocol === 'udp'
            ? await listenPcapdroidUdp(listenerOptions)
            : await listenPcapOverTcp(listenerOptions);
      } catch (error) {
        throw new ProbeUsageError(`cannot listen on ${options.listen}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      say(`listening on ${listener.address}; Ctrl-C to stop`);
      const signal = await stopSignal();
      const live = await listener.stop();
      const delivered = await sink.close();
      const spooledNote = spooledMessage(delivered.spooled, options);
      if (spooledNote) say(spooledNote);
      const dropped = `${live.droppedDatagrams ? `, ${live.droppedDatagrams} datagrams dropped` : ''}${live.ignoredDatagrams ? `, ${live.ignoredDatagrams} datagrams from other senders ignored` : ''}${live.refusedConnections ? `, ${live.refusedConnections} connections refused (too many at once)` : ''}`;
      const skipped = live.skipped ? `; skipped ${live.skipped}` : '';
      say(
        `${signal}: stopped; ${live.packets} packets, ${live.flows} flows${dropped}${skipped}; ${delivered.delivered} flow records sent`,
      );
      return delivered.spooled ? EXIT.spooled : EXIT.ok;
    }
    for (const capture of captures) if (capture !== '-') await checkCaptureReadable(capture);
    const out = await makeSink(options, io, say);
    const sink = new SessionSink(out, context);
    for (const capture of captures) {
      try {
        say(
          await probeCapture(
            capture,
            context,
            { run: sink.run, writeJson: (json) => sink.writeJson(json) },
            {
              stdin: io.stdin,
              progress: io.stderr,
              threads: threads ?? 'auto',
              keyLog,
            },
          ),
        );
      } catch (error) {
        if (error instanceof ProbeWorkerError) {
          const delivered = await out.close();
          say(`${error.message}; run again with --threads 1, which reads in this thread alone`);
          say(
            `${delivered.delivered} flow records ${options.kinesisStream ? `put on stream ${options.kinesisStream}` : 'written'} before it; the session is not ended`,
          );
          return EXIT.delivery;
        }
        if (!(error instanceof CaptureFormatError)) throw error;
        // The flows read before the damage are delivered; the session is not ended (no
        // session-end record), so it cannot make a build look like it stopped leaking.
        const delivered = await out.close();
        say(error.message);
        say(
          `${delivered.delivered} flow records read before the damage ${options.kinesisStream ? `put on stream ${options.kinesisStream}` : 'written'}; the session is not ended`,
        );
        return EXIT.capture;
      }
    }
    const delivered = await sink.close();
    say(
      `${delivered.delivered} flow records ${options.kinesisStream ? `put on stream ${options.kinesisStream}` : 'written'}${delivered.retried ? ` (${delivered.retried} entries retried)` : ''}`,
    );
    const spooledNote = spooledMessage(delivered.spooled, options);
    if (spooledNote) {
      say(spooledNote);
      return EXIT.spooled;
    }
    if (delivered.oversized) {
      say(
        `${delivered.oversized} records over the 1 MiB Kinesis record limit were not sent (kept in ${join(spoolDirOf(options), 'oversized')}); every other record was`,
      );
      return EXIT.delivery;
    }
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ProbeUsageError) {
      say(`${error.message}\nRun 'leakwatch probe --help' for the flags.`);
      return EXIT.usage;
    }
    if (error instanceof CaptureFormatError) {
      say(error.message);
      return EXIT.capture;
    }
    if (error instanceof DeliveryError) {
      say(error.message);
      return EXIT.delivery;
    }
    throw error;
  }
}
