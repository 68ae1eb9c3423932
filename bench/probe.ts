import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * Probe throughput and memory against tshark, in one run, on the same capture.
 *
 *   npm run bench:probe                      # generates bench/out/mixed-200.pcap if missing
 *   npm run bench:probe -- --megabytes 400   # a larger capture
 *   npm run bench:probe -- --file my.pcap    # any capture
 *
 * Each is run --runs times (default 3; this VM's timings vary by ±20%) and the median run is
 * reported. Both run pinned to one core (taskset) under GNU time (apt-get install time tshark), writing
 * their output to /dev/null. tshark extracts the same fields the probe decodes, with TCP
 * reassembly on. Goal (issue #3): at least 20x tshark's throughput, peak RSS under 256 MB.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    megabytes: { type: 'string', default: '200' },
    'skip-tshark': { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
  },
});

interface Measured {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
  readonly stderr: string;
}

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Runs the command `runs` times and returns the run with the median wall time. */
async function median(command: string[], runs: number): Promise<Measured> {
  const results: Measured[] = [];
  for (let i = 0; i < runs; i++) results.push(await measure(command));
  results.sort((a, b) => a.seconds - b.seconds);
  return {
    ...results[Math.floor(results.length / 2)]!,
    peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
  };
}

async function measure(command: string[]): Promise<Measured> {
  const pin = have('taskset') ? ['taskset', '-c', '0'] : [];
  const timeFile = join(root, 'bench', 'out', `time-${process.pid}.txt`);
  const args = ['-v', '-o', timeFile, ...pin, ...command];
  const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const status = await new Promise<number>((done) => child.on('close', (code) => done(code ?? 1)));
  if (status !== 0) throw new Error(`${command.join(' ')} exited ${status}: ${stderr.slice(-2000)}`);
  const report = await readFile(timeFile, 'utf8');
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

if (!existsSync('/usr/bin/time')) {
  console.error('bench:probe needs GNU time for peak RSS: apt-get install time');
  process.exit(2);
}
const file = values.file ?? join(root, 'bench', 'out', `mixed-${values.megabytes}.pcap`);
if (!existsSync(file)) {
  console.log(`generating ${file} …`);
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
    ],
    {
      stdio: 'inherit',
    },
  );
  if (generated.status !== 0) process.exit(1);
}
// Measure the bundle users run (the bin falls back to compiling TypeScript when it is stale).
if (spawnSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs')], { stdio: 'inherit' }).status !== 0)
  process.exit(1);
const megabytes = statSync(file).size / 1e6;
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
process.env = env;

// The bin is executed as a user runs it: its shebang sets the heap cap.
const runs = Math.max(1, Number(values.runs));
const probe = await median(
  [
    join(root, 'bin', 'leakwatch.js'),
    'probe',
    '--lab-config',
    join(root, 'scenario', 'lab', 'build-1.json'),
    '--ndjson',
    file,
  ],
  runs,
);
const packets = Number(/, (\d+) packets/.exec(probe.stderr)?.[1] ?? 0);
const flows = Number(/packets, (\d+) flows/.exec(probe.stderr)?.[1] ?? 0);
const row = (name: string, m: Measured) =>
  `${name.padEnd(8)} ${m.seconds.toFixed(2).padStart(7)} s  ${(megabytes / m.seconds).toFixed(1).padStart(7)} MB/s  ${(packets / m.seconds / 1000).toFixed(0).padStart(6)} kpkt/s  cpu ${m.cpuSeconds.toFixed(2)} s  peak RSS ${m.peakRssMb.toFixed(0)} MB`;
console.log(
  `capture  ${file}: ${megabytes.toFixed(1)} MB, ${packets} packets, ${flows} flows; median of ${runs} runs, one core`,
);
console.log(row('probe', probe));
if (values['skip-tshark'] || !have('tshark')) {
  console.log('tshark   skipped (apt-get install tshark to compare)');
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
    runs,
  );
  console.log(row('tshark', tshark));
  console.log(
    `ratio    probe is ${(tshark.seconds / probe.seconds).toFixed(1)}x tshark's throughput (goal ≥ 20x); peak RSS ${probe.peakRssMb.toFixed(0)} MB vs ${tshark.peakRssMb.toFixed(0)} MB (goal < 256 MB)`,
  );
}
