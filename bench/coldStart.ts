import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { LAMBDA_BUNDLING } from '../infra/stages/leakwatchFunction.ts';
import { benchArgs } from './args.ts';

/**
 * Cold start of the functions as deployed: each handler bundled with the stack's own bundling
 * settings (LAMBDA_BUNDLING, as `cdk synth` bundles them), its size and what fills it, then the
 * ingest function's cold init measured in fresh Node processes: from the import of the bundle to
 * its handler being ready, with its real top-level work (catalog, IP table, digest key; Secrets
 * Manager answered by a loopback stand-in). A benchmark that prints its figures.
 *
 *   npm run bench:cold [-- --runs 7 --source-maps]
 *
 * `--source-maps` bundles with a source map and runs with --enable-source-maps, as the functions
 * were deployed before issue 16, to show what that costs.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = benchArgs('bench:cold', {
  runs: { type: 'string', default: '7' },
  'source-maps': { type: 'boolean', default: false },
});
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('bench:cold: --runs must be a whole number ≥ 1');
  process.exit(2);
}
const sourceMaps = values['source-maps'];
const out = join(root, 'bench', 'out', 'cold');

/** Bytes in the bundle by package (or `leakwatch` for the project's own code). */
function byPackage(metafile: Metafile): [string, number][] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = match ? match[1]! : input.startsWith('data/') ? input : 'leakwatch';
      sizes.set(name, (sizes.get(name) ?? 0) + bytesInOutput);
    }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const bundles: Record<string, string> = {};
console.log(
  `leakwatch cold start: the functions bundled as the stack bundles them${sourceMaps ? ' (with source maps)' : ''}`,
);
for (const fn of ['ingest', 'notify', 'api']) {
  const outfile = join(out, fn, 'index.mjs');
  const result = await build({
    entryPoints: [join(root, 'lambdas', fn, 'handler.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_BUNDLING.target,
    minify: LAMBDA_BUNDLING.minify,
    keepNames: LAMBDA_BUNDLING.keepNames,
    sourcemap: sourceMaps,
    mainFields: LAMBDA_BUNDLING.mainFields,
    banner: { js: LAMBDA_BUNDLING.banner },
    external: LAMBDA_BUNDLING.externalModules,
    metafile: true,
    logLevel: 'error',
  });
  bundles[fn] = outfile;
  const code = Object.entries(result.metafile.outputs).find(([name]) => name.endsWith('.mjs'))![1].bytes;
  const map = Object.entries(result.metafile.outputs).find(([name]) => name.endsWith('.map'))?.[1].bytes;
  const top = byPackage(result.metafile)
    .slice(0, 6)
    .map(([name, bytes]) => `${name} ${kb(bytes)}`)
    .join(', ');
  console.log(`  ${fn}: ${kb(code)} of code${map ? ` + ${kb(map)} source map` : ''}; largest: ${top}`);
}

// Secrets Manager for the digest key, on loopback (the handler reads it at its top level).
const secrets = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify({
        SecretString: 'ab'.repeat(32),
        Name: 'digest-key',
        ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:digest',
      }),
    );
  });
});
await new Promise<void>((resolve) => secrets.listen(0, '127.0.0.1', resolve));
const secretsEndpoint = `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`;

// The import timed inside the process (what Lambda's init phase runs), and the process as a whole.
const probe = join(out, 'init.mjs');
await mkdir(dirname(probe), { recursive: true });
await writeFile(
  probe,
  `const t0 = performance.now();
const module = await import(process.argv[2]);
if (typeof module.handler !== 'function') throw new Error('no handler exported');
process.stdout.write(JSON.stringify({ initMs: performance.now() - t0, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 }));
`,
);
const env = {
  ...process.env,
  AWS_REGION: 'eu-central-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsEndpoint,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  POWERTOOLS_TRACE_ENABLED: 'false',
  TABLE_NAME: 'bench',
  DIGEST_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:digest',
  ARCHIVE_DELIVERY_STREAM: 'bench',
  ARCHIVE_DATABASE: 'bench',
  ARCHIVE_TABLE: 'bench',
  ARCHIVE_BUCKET: 'bench',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-central-1.amazonaws.com/123456789012/bench',
  LEAKWATCH_IP_TABLE: join(root, 'data', 'ip-table.bin'),
  NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : '',
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const inits: number[] = [];
const walls: number[] = [];
let heap = 0;
for (let i = 0; i < RUNS; i++) {
  const started = performance.now();
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [probe, pathToFileURL(bundles.ingest!).href], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => {
        stdout += c;
      });
      child.stderr.on('data', (c: Buffer) => {
        stderr += c;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, code }));
    },
  );
  walls.push(performance.now() - started);
  if (code !== 0) {
    console.error(`bench:cold: the ingest bundle failed to initialise (exit ${code}):\n${stderr}`);
    process.exit(1);
  }
  const { initMs, heapMiB } = JSON.parse(stdout) as { initMs: number; heapMiB: number };
  inits.push(initMs);
  heap = heapMiB;
}
secrets.close();
console.log(
  `  ingest cold init (import of the bundle to handler ready; IP table, catalog, digest key): median ${median(inits).toFixed(0)} ms of ${RUNS} (min ${Math.min(...inits).toFixed(0)}, max ${Math.max(...inits).toFixed(0)}), process ${median(walls).toFixed(0)} ms, heap after init ${heap.toFixed(0)} MiB; Node ${process.version} on this machine (Lambda runs nodejs24.x on arm64)`,
);
