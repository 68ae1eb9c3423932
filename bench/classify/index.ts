import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import { classifyCandidates, clearClassificationCache } from '../../core/classify/classifyCandidates.ts';
import { classifyDestination } from '../../core/classify/destination.ts';
import {
  KnownValueIndex,
  plainLengthsOf,
  registrationDigests,
  ValueDigester,
} from '../../core/registry/knownValues.ts';
import { type FlowRecord, parseFlowRecord } from '../../schema/flowRecord.ts';

/**
 * Ingest classification throughput, no I/O: destination and personal-data classification of real
 * flow records (the probe's output for bench/out/mixed-200.pcap, made if missing), with the device's
 * values registered. Prints flows per second on one core (run it under `taskset -c 0`), with and
 * without schema parsing, each round starting with cold caches. Goal (issue #4): ≥ 200,000
 * flows/s/core. `npm run bench:classify` runs it bundled by esbuild, as the Lambda runs the code:
 *
 *   taskset -c 0 npm run bench:classify [-- --rounds 5]
 */
// Two levels up from bench/classify (tsx) and from bench/out (the bundle npm run bench:classify runs).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ndjson = join(root, 'bench', 'out', 'mixed-200.ndjson');
if (!existsSync(ndjson)) {
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
  await (await import('node:fs/promises')).writeFile(ndjson, out.stdout);
}
const lines = (await readFile(ndjson, 'utf8')).trim().split('\n');
const records: FlowRecord[] = lines.map((line) => parseFlowRecord(line));
const key = randomBytes(32);
const registration = JSON.parse(await readFile(join(root, 'scenario', 'lab', 'registration.json'), 'utf8'));
const digests = registrationDigests(key, registration.values);
const lengths = plainLengthsOf(registration.values);
const withCandidates = records.filter((r) => r.candidates.length > 0).length;

function classifyAll(parse: boolean): number {
  // Every round starts cold: only repetition within the 19k flows may hit the cache.
  clearClassificationCache();
  const known = new KnownValueIndex(key, digests, lengths);
  const digester = new ValueDigester(key);
  const catalog = new DestinationCatalog(BUNDLED_CATALOG);
  let findings = 0;
  for (let i = 0; i < records.length; i++) {
    const record = parse ? parseFlowRecord(lines[i]!) : records[i]!;
    classifyDestination(record, catalog);
    findings += classifyCandidates(record.candidates, { region: 'CN', known, digester }).findings.length;
  }
  return findings;
}

console.log(
  `${records.length} flow records (${withCandidates} with candidates, ${records.reduce((n, r) => n + r.candidates.length, 0)} candidates)`,
);
for (const parse of [false, true]) {
  classifyAll(parse); // warm up
  const rates: number[] = [];
  let findings = 0;
  for (let round = 0; round < Number(values.rounds); round++) {
    const started = process.hrtime.bigint();
    findings = classifyAll(parse);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rates.push(records.length / seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  console.log(
    `classify${parse ? ' + schema parse' : ''}: ${Math.round(median).toLocaleString('en-US')} flows/s (median of ${rates.length}), ${findings} findings per round`,
  );
}
console.log('goal: >= 200,000 flows/s/core (classification, excluding I/O)');
