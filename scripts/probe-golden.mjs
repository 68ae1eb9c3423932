// The records `leakwatch probe --ndjson` writes for every capture bundled with the project, pinned:
// test/cli/probeGolden.test.ts runs the installed command on the same captures and compares byte
// for byte, so a change made for speed (record encoding, worker threads) cannot change a record.
//
//   node scripts/probe-golden.mjs           # prints the normalised output (what the test compares)
//   node scripts/probe-golden.mjs --write   # rewrites test/fixtures/probe-golden.ndjson.gz
//
// Normalised: the run id (random per run) and the session-end record's endedAt (the wall clock).
// Regenerate only for a deliberate change of the records, and say so in the commit.
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
export const GOLDEN = join(root, 'test', 'fixtures', 'probe-golden.ndjson.gz');

/** Every pcap, pcapng and gzip'd capture under test/fixtures and scenario/captures, sorted. */
export function bundledCaptures() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      // The TLS decryption captures came later, with their own expectations (test/cli/tlsDecrypt.test.ts).
      if (entry.isDirectory()) {
        if (relative(root, path) !== join('test', 'fixtures', 'tls')) walk(path);
      } else if (/\.(pcap|pcapng|pcap\.gz)$/.test(entry.name)) found.push(relative(root, path));
    }
  };
  walk(join(root, 'test', 'fixtures'));
  walk(join(root, 'scenario', 'captures'));
  return found.sort();
}

export const normalise = (ndjson) =>
  ndjson
    .replace(/"run":"[0-9a-f-]{36}"/g, '"run":"RUN"')
    .replace(/("kind":"session-end".*?"endedAt":")[^"]+"/g, '$1ENDED"');

/** The installed command's output on every bundled capture, normalised (extra args: e.g. --threads). */
export function probeOutput(extraArgs = [], env = process.env) {
  const result = spawnSync(
    join(root, 'bin', 'leakwatch.js'),
    [
      'probe',
      '--lab-config',
      join(root, 'scenario', 'lab', 'build-1.json'),
      '--ndjson',
      ...extraArgs,
      ...bundledCaptures(),
    ],
    { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) throw new Error(`leakwatch probe exited ${result.status}: ${result.stderr}`);
  return { stdout: normalise(result.stdout), stderr: result.stderr };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { stdout } = probeOutput(process.argv.slice(2).filter((a) => a !== '--write'));
  if (process.argv.includes('--write')) {
    writeFileSync(GOLDEN, gzipSync(stdout, { level: 9 }));
    console.log(
      `${GOLDEN}: ${stdout.split('\n').length - 1} records from ${bundledCaptures().length} captures`,
    );
  } else process.stdout.write(stdout);
}
