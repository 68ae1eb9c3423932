import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import { classifyCandidates, clearClassificationCache } from '../../core/classify/classifyCandidates.ts';
import { classifyDestination } from '../../core/classify/destination.ts';
import { loadOfflineIpInfo } from '../../core/geo/ipInfo.ts';
import { KnownValueIndex, registration, ValueDigester } from '../../core/registry/knownValues.ts';
import {
  compiledFlowRecordSchema,
  type FlowRecord,
  isSessionEnd,
  parseFlowRecord,
  parseStreamRecord,
} from '../../schema/flowRecord.ts';
import { benchArgs } from '../args.ts';

/**
 * Ingest classification throughput, no I/O: destination and personal-data classification of real
 * flow records (the probe's output for bench/out/mixed-200.pcap, made if missing), with the device's
 * values registered. Prints flows per second on one core (run it under `taskset -c 0`) for the
 * destination (catalog, country, AS), the personal data, both, and both after schema parsing; each
 * round starts with cold caches. Goal (issue #4): ≥ 200,000
 * flows/s/core. `npm run bench:classify` runs it bundled by esbuild, as the Lambda runs the code:
 *
 *   taskset -c 0 npm run bench:classify [-- --rounds 5] [--phase classify …]
 */
// Two levels up from bench/classify (tsx) and from bench/out (the bundle npm run bench:classify runs).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = benchArgs('bench/classify', {
  rounds: { type: 'string', default: '5' },
  phase: { type: 'string', multiple: true },
});
const ndjson = join(root, 'bench', 'out', 'mixed-200.ndjson');
if (!existsSync(ndjson)) {
  mkdirSync(join(root, 'bench', 'out'), { recursive: true });
  const capture = join(root, 'bench', 'out', 'mixed-200.pcap');
  if (!existsSync(capture))
    spawnSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'bench', 'generateCapture.ts'), '--out', capture, '--megabytes', '200'],
      { stdio: 'inherit' },
    );
  const out = spawnSync(
    process.execPath,
    [
      join(root, 'bin', 'leakwatch.js'),
      'probe',
      '--lab-config',
      join(root, 'scenario', 'lab', 'build-2.json'),
      capture,
    ],
    { maxBuffer: 1 << 30 },
  );
  if (out.status !== 0) {
    console.error(`leakwatch probe exited ${out.status}: ${out.stderr}`);
    process.exit(1);
  }
  await (await import('node:fs/promises')).writeFile(ndjson, out.stdout);
}
// What an execution environment pays once, on its first record: zod compiles the record schema.
const compileStarted = performance.now();
compiledFlowRecordSchema();
const compileMs = performance.now() - compileStarted;
// The probe ends its output with the session's end record; the bench classifies the flows.
const lines = (await readFile(ndjson, 'utf8'))
  .trim()
  .split('\n')
  .filter((line) => !isSessionEnd(parseStreamRecord(line)));
const records: FlowRecord[] = lines.map((line) => parseFlowRecord(line));
const key = randomBytes(32);
const registered = JSON.parse(await readFile(join(root, 'scenario', 'lab', 'registration.json'), 'utf8'));
const { digests, plainLengths: lengths, fingerprints } = registration(key, registered.values);
const withCandidates = records.filter((r) => r.candidates.length > 0).length;

type Phase = 'schema parse' | 'destination' | 'personal data' | 'classify' | 'classify + schema parse';
const PHASES: readonly Phase[] = [
  'schema parse',
  'destination',
  'personal data',
  'classify',
  'classify + schema parse',
];

/**
 * One round over every record. What a Lambda execution environment builds once (catalog, registry
 * index, IP databases) is built before the clock starts; every cache starts cold.
 */
function round(phase: Phase): { seconds: number; findings: number } {
  clearClassificationCache();
  const known = new KnownValueIndex(key, digests, lengths, fingerprints);
  const digester = new ValueDigester(key);
  const catalog = new DestinationCatalog(BUNDLED_CATALOG);
  const ipInfo = loadOfflineIpInfo();
  const destinations = phase !== 'personal data' && phase !== 'schema parse';
  const personal = phase !== 'destination' && phase !== 'schema parse';
  const parse = phase === 'classify + schema parse' || phase === 'schema parse';
  const options = { region: 'CN', known, digester };
  const started = process.hrtime.bigint();
  const findings = timedLoop(parse, destinations, personal, catalog, ipInfo, options);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, findings };
}

/** The measured work, in a function of its own so a CPU profile can tell it from the setup. */
function timedLoop(
  parse: boolean,
  destinations: boolean,
  personal: boolean,
  catalog: DestinationCatalog,
  ipInfo: ReturnType<typeof loadOfflineIpInfo>,
  options: Parameters<typeof classifyCandidates>[1],
): number {
  let findings = 0;
  for (let i = 0; i < records.length; i++) {
    const record = parse ? parseFlowRecord(lines[i]!) : records[i]!;
    if (destinations) classifyDestination(record, catalog, ipInfo);
    if (personal) findings += classifyCandidates(record.candidates, options).findings.length;
  }
  return findings;
}

console.log(
  `${records.length} flow records (${withCandidates} with candidates, ${records.reduce((n, r) => n + r.candidates.length, 0)} candidates, ${new Set(records.map((r) => r.flow.server.ip)).size} server addresses)`,
);
console.log(
  `schema compiled by zod (z.compile) in ${compileMs.toFixed(1)} ms, once per execution environment, on its first record`,
);
const unknownPhase = values.phase?.find((p) => !PHASES.includes(p as Phase));
if (unknownPhase) {
  console.error(`--phase ${unknownPhase}: not a phase (${PHASES.join(', ')})`);
  process.exit(2);
}
for (const phase of PHASES.filter((p) => !values.phase || values.phase.includes(p))) {
  round(phase); // warm up
  const rates: number[] = [];
  let findings = 0;
  for (let n = 0; n < Number(values.rounds); n++) {
    const result = round(phase);
    findings = result.findings;
    rates.push(records.length / result.seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  console.log(
    `${phase.padEnd(24)} ${Math.round(median).toLocaleString('en-US').padStart(9)} flows/s (median of ${rates.length}; min ${Math.round(rates[0]!).toLocaleString('en-US')}, max ${Math.round(rates.at(-1)!).toLocaleString('en-US')})${phase === 'destination' || phase === 'schema parse' ? '' : `, ${findings} findings per round`}`,
  );
}
console.log(
  'goal (issue #4): classify >= 200,000 flows/s/core (destination with country and AS, and personal data; no I/O)',
);
