import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.ts';
import { makeTlsCapture, TLS_KEYS } from './tlsCapture.ts';

/**
 * Probe throughput, work per flow and per packet, memory and scaling, against tshark, on the same
 * captures (issue 18). From a fresh clone:
 *
 *   npm run bench:probe                          # both shapes, 200 MB each, made in bench/out if missing
 *   npm run bench:probe -- --shape short         # one shape (mixed: per-byte cost; short: per-flow cost)
 *   npm run bench:probe -- --shape tls           # decryptable TLS (bench/tlsCapture.ts), with and without its key log
 *   npm run bench:probe -- --file my.pcap        # any capture
 *   npm run bench:probe -- --file my.pcapng --keylog sslkeys.log   # also with the lab's key log
 *   npm run bench:probe -- --runs 1 --skip-tshark --skip-kinesis --threads 2
 *
 * Per capture (median of --runs runs, default 3; this VM's timings vary by ±20%):
 * - the probe with --threads 1 pinned to one core (taskset) and the probe with --threads N on N
 *   cores (N: --threads, default the cores), both under GNU time (apt-get install time), NDJSON to
 *   /dev/null, as a user runs the installed bin (the bundle, its shebang's heap cap);
 * - µs per flow and per packet (CPU time / flows, / packets), heap bytes allocated per flow and the
 *   share of the run in GC pauses (one more run under V8's --trace-gc-nvp);
 * - tshark on one core, extracting the fields the probe decodes, TCP reassembly on;
 * - the probe (one thread) into a local Kinesis endpoint (kinesalite, started here): records/s and
 *   bytes shipped per record.
 * - with a key log (--keylog, or the tls shape's own): the probe with --keylog next to the same
 *   capture without it (one thread), the extra CPU per decrypted flow, and tshark decrypting with
 *   the same keys;
 * Goals printed next to the figures: ≥ 10× tshark on one core, ≥ 1.7× with 2 threads on 2 cores,
 * peak RSS ≤ 256 MB.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'bench', 'out');
const { values } = benchArgs('bench:probe', {
  file: { type: 'string' },
  shape: { type: 'string' },
  megabytes: { type: 'string', default: '200' },
  'skip-tshark': { type: 'boolean', default: false },
  'skip-kinesis': { type: 'boolean', default: false },
  threads: { type: 'string', default: String(availableParallelism()) },
  runs: { type: 'string', default: '3' },
  keylog: { type: 'string' },
});
const SHAPES = ['mixed', 'short', 'tls'] as const;
type Shape = (typeof SHAPES)[number];
if (values.shape !== undefined && !(SHAPES as readonly string[]).includes(values.shape)) {
  console.error(`--shape "${values.shape}" is not mixed, short or tls`);
  process.exit(2);
}
const threads = Number(values.threads);
if (!Number.isInteger(threads) || threads < 1) {
  console.error(`--threads "${values.threads}" is not a whole number ≥ 1`);
  process.exit(2);
}
const runs = Math.max(1, Number(values.runs));

interface Measured {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
  readonly stderr: string;
}

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Runs the command `runs` times and returns the run with the median wall time (peak RSS: the largest). */
async function median(command: string[], cores: string): Promise<Measured> {
  const results: Measured[] = [];
  for (let i = 0; i < runs; i++) results.push(await measure(command, cores));
  results.sort((a, b) => a.seconds - b.seconds);
  return {
    ...results[Math.floor(results.length / 2)]!,
    peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
  };
}

async function measure(command: string[], cores: string): Promise<Measured> {
  const pin = have('taskset') ? ['taskset', '-c', cores] : [];
  const timeFile = join(out, `time-${process.pid}.txt`);
  const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, ...pin, ...command], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const status = await new Promise<number>((done) => child.on('close', (code) => done(code ?? 1)));
  if (status !== 0) throw new Error(`${command.join(' ')} exited ${status}: ${stderr.slice(-2000)}`);
  const report = await readFile(timeFile, 'utf8');
  await rm(timeFile, { force: true });
  const field = (name: string) =>
    report
      .split('\n')
      .find((line) => line.includes(name))
      ?.split(': ')
      .pop()
      ?.trim() ?? '0';
  const [minutes, secs] = field('Elapsed (wall clock)').split(':').slice(-2);
  return {
    seconds: Number(minutes) * 60 + Number(secs),
    cpuSeconds: Number(field('User time')) + Number(field('System time')),
    peakRssMb: Number(field('Maximum resident set size')) / 1024,
    stderr,
  };
}

/** The bench's capture of a shape, made by bench/generateCapture.ts (tls: bench/tlsCapture.ts) when missing. */
function capture(shape: Shape): string {
  const file = join(out, `${shape}-${values.megabytes}.pcap`);
  if (existsSync(file)) return file;
  console.log(`generating ${file} …`);
  if (shape === 'tls') {
    makeTlsCapture(file, Number(values.megabytes));
    return file;
  }
  const generated = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench', 'generateCapture.ts'),
      '--out',
      file,
      '--megabytes',
      String(values.megabytes),
      '--shape',
      shape,
    ],
    { stdio: 'inherit' },
  );
  if (generated.status !== 0) process.exit(1);
  return file;
}

const BIN = join(root, 'bin', 'leakwatch.js');
const LAB = join(root, 'scenario', 'lab', 'build-1.json');
const probeArgs = (file: string, n: number, extra: string[] = []) => [
  BIN,
  'probe',
  '--lab-config',
  LAB,
  '--threads',
  String(n),
  ...extra,
  file,
];

/** Heap bytes V8 allocated and its GC pauses, summed from --trace-gc-nvp (one run, one thread). */
function allocations(file: string): { bytes: number; pauseMs: number; wallMs: number } {
  const run = spawnSync(
    process.execPath,
    ['--max-old-space-size=192', '--trace-gc-nvp', ...probeArgs(file, 1, ['--ndjson'])],
    { maxBuffer: 4 << 30, encoding: 'latin1' },
  );
  let bytes = 0;
  let pauseMs = 0;
  let wallMs = 0;
  for (const line of run.stdout.split('\n')) {
    if (!line.startsWith('[')) continue;
    bytes += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    pauseMs += Number(/ pause=([\d.]+)/.exec(line)?.[1] ?? 0);
    wallMs = Number(/\s([\d.]+) ms: /.exec(line)?.[1] ?? wallMs);
  }
  return { bytes, pauseMs, wallMs };
}

/** The probe into kinesalite (started on a worker thread here): one thread, one shard. */
async function intoKinesis(file: string): Promise<{ seconds: number; records: number; bytes: number }> {
  const { startEmulators, ensureStream } = await import('../local/emulators.ts');
  const { GetShardIteratorCommand, GetRecordsCommand, ListShardsCommand } = await import(
    '@aws-sdk/client-kinesis'
  );
  const emulators = await startEmulators(null);
  try {
    const stream = `bench-probe-${process.pid}`;
    await ensureStream(emulators.kinesis, stream, 1);
    const started = performance.now();
    const [bin, ...args] = probeArgs(file, 1, [
      '--kinesis-stream',
      stream,
      '--kinesis-endpoint',
      emulators.kinesisEndpoint,
    ]);
    const child = spawn(bin!, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_REGION: 'us-east-1' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const status = await new Promise<number>((done) => child.on('close', (code) => done(code ?? 1)));
    const seconds = (performance.now() - started) / 1000;
    if (status !== 0) throw new Error(`probe into Kinesis exited ${status}: ${stderr.slice(-2000)}`);
    // What reached the stream: every record, read back and counted with its bytes.
    const { Shards } = await emulators.kinesis.send(new ListShardsCommand({ StreamName: stream }));
    let records = 0;
    let bytes = 0;
    for (const shard of Shards ?? []) {
      let iterator = (
        await emulators.kinesis.send(
          new GetShardIteratorCommand({
            StreamName: stream,
            ShardId: shard.ShardId!,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (iterator) {
        const page = await emulators.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: 10000 }),
        );
        for (const record of page.Records ?? []) {
          records++;
          bytes += record.Data?.length ?? 0;
        }
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
    return { seconds, records, bytes };
  } finally {
    await emulators.close();
  }
}

if (!existsSync('/usr/bin/time')) {
  console.error('bench:probe needs GNU time for peak RSS: apt-get install time');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
// Measure the bundle users run (the bin falls back to compiling TypeScript when it is stale).
if (spawnSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs')], { stdio: 'inherit' }).status !== 0)
  process.exit(1);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const files = values.file ? [values.file] : (values.shape ? [values.shape as Shape] : SHAPES).map(capture);
/** The key log a capture is measured with too: --keylog, or the tls shape's own. */
const keylogOf = (file: string) =>
  values.keylog ?? (basename(file).startsWith('tls-') && !values.file ? TLS_KEYS : undefined);
const allCores = Array.from({ length: Math.min(threads, availableParallelism()) }, (_, i) => i).join(',');

for (const file of files) {
  const megabytes = statSync(file).size / 1e6;
  const one = await median(probeArgs(file, 1, ['--ndjson']), '0');
  const packets = Number(/, (\d+) packets/.exec(one.stderr)?.[1] ?? 0);
  const flows = Number(/packets, (\d+) flows/.exec(one.stderr)?.[1] ?? 0);
  const row = (name: string, m: Measured) =>
    `${name.padEnd(16)} ${m.seconds.toFixed(2).padStart(7)} s ${(megabytes / m.seconds).toFixed(1).padStart(7)} MB/s ${(packets / m.seconds / 1000).toFixed(0).padStart(5)} kpkt/s  cpu ${m.cpuSeconds.toFixed(2).padStart(6)} s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB`;
  console.log(
    `\n${basename(file)}: ${megabytes.toFixed(1)} MB, ${packets} packets, ${flows} flows (${(packets / Math.max(1, flows)).toFixed(1)} packets per flow); median of ${runs} runs`,
  );
  console.log(row('probe 1 thread', one));
  const perFlow = (one.cpuSeconds * 1e6) / Math.max(1, flows);
  const perPacket = (one.cpuSeconds * 1e6) / Math.max(1, packets);
  const gc = allocations(file);
  console.log(
    `  work           ${perFlow.toFixed(1)} µs CPU per flow, ${perPacket.toFixed(2)} µs per packet; ${(gc.bytes / Math.max(1, flows) / 1024).toFixed(1)} KiB of heap allocated per flow; GC pauses ${((100 * gc.pauseMs) / Math.max(1, gc.wallMs)).toFixed(0)}% of the run`,
  );
  const keylog = keylogOf(file);
  let decrypting: Measured | undefined;
  if (keylog) {
    decrypting = await median(probeArgs(file, 1, ['--ndjson', '--keylog', keylog]), '0');
    console.log(row('probe + keylog', decrypting));
    const tlsLine = /TLS flows without keys: (\d+) of (\d+), decrypted (\d+)/.exec(decrypting.stderr);
    const decrypted = Number(tlsLine?.[3] ?? 0);
    console.log(
      `  decryption     ${decrypted} of ${tlsLine?.[2] ?? '?'} TLS flows decrypted (${tlsLine?.[1] ?? '?'} without keys); ${(((decrypting.cpuSeconds - one.cpuSeconds) * 1e6) / Math.max(1, decrypted)).toFixed(0)} µs more CPU per decrypted flow (decryption, HTTP/1.1 and HTTP/2 decoding, candidates, the larger records); ${(megabytes / decrypting.seconds).toFixed(1)} MB/s with keys vs ${(megabytes / one.seconds).toFixed(1)} MB/s without (goal: decryption only for flows with keys)`,
    );
  }
  let many: Measured | undefined;
  if (threads > 1) {
    many = await median(probeArgs(file, threads, ['--ndjson']), allCores);
    console.log(row(`probe ${threads} threads`, many));
    console.log(
      `  scaling        ${(one.seconds / many.seconds).toFixed(2)}x with ${threads} threads on cores ${allCores} (goal ≥ 1.7x with 2 on 2 cores)`,
    );
  }
  if (values['skip-tshark'] || !have('tshark')) {
    console.log('tshark           skipped (apt-get install tshark to compare)');
  } else {
    const fields = [
      'frame.number',
      'ip.src',
      'ip.dst',
      'ipv6.src',
      'ipv6.dst',
      'tcp.srcport',
      'tcp.dstport',
      'udp.srcport',
      'udp.dstport',
      'dns.qry.name',
      'dns.a',
      'dns.aaaa',
      'dns.cname',
      'tls.handshake.extensions_server_name',
      'tls.handshake.version',
      'tls.handshake.extensions.supported_version',
      'tls.handshake.extensions_alpn_str',
      'http.request.method',
      'http.host',
      'http.request.uri',
      'http.user_agent',
      'http.content_type',
      'http.file_data',
    ];
    const tshark = await median(
      [
        'tshark',
        '-r',
        file,
        '-o',
        'tcp.desegment_tcp_streams:TRUE',
        '-o',
        'http.desegment_body:TRUE',
        '-T',
        'fields',
        ...fields.flatMap((f) => ['-e', f]),
      ],
      '0',
    );
    console.log(row('tshark', tshark));
    console.log(
      `  ratio          one core: probe ${(tshark.seconds / one.seconds).toFixed(1)}x tshark's throughput (goal ≥ 10x)${many ? `; ${threads} threads: ${(tshark.seconds / many.seconds).toFixed(1)}x` : ''}; peak RSS ${Math.max(one.peakRssMb, many?.peakRssMb ?? 0).toFixed(0)} MB (goal ≤ 256 MB)`,
    );
    if (keylog && decrypting) {
      // tshark decrypting with the same keys: its HTTP and HTTP/2 requests, as the probe's test compares.
      const tsharkKeys = await median(
        [
          'tshark',
          '-r',
          file,
          '-o',
          `tls.keylog_file:${keylog}`,
          '-o',
          'tcp.reassemble_out_of_order:TRUE',
          '-T',
          'fields',
          ...[
            ...fields,
            'http2.headers.method',
            'http2.headers.path',
            'http2.headers.authority',
            'http2.data.data',
          ].flatMap((f) => ['-e', f]),
        ],
        '0',
      );
      console.log(row('tshark + keylog', tsharkKeys));
      console.log(
        `  ratio          decrypting on one core: probe ${(tsharkKeys.seconds / decrypting.seconds).toFixed(1)}x tshark's throughput; peak RSS ${decrypting.peakRssMb.toFixed(0)} MB`,
      );
    }
  }
  if (!values['skip-kinesis']) {
    const kinesis = await intoKinesis(file);
    console.log(
      `kinesis          ${kinesis.seconds.toFixed(2).padStart(7)} s ${(megabytes / kinesis.seconds).toFixed(1).padStart(7)} MB/s ${(kinesis.records / kinesis.seconds / 1000).toFixed(1)} k records/s into kinesalite (one shard, PutRecords of 500); ${kinesis.records} records on the stream (${flows + 1} expected), ${(kinesis.bytes / Math.max(1, kinesis.records)).toFixed(0)} bytes per record`,
    );
    if (kinesis.records !== flows + 1) process.exitCode = 1;
  }
}
