// Bundles the `leakwatch` command line into dist/cli/ with esbuild, so a start does not compile
// TypeScript (about half a second saved per run). bin/leakwatch.js uses the bundle only while it
// is newer than every source file; otherwise it runs the sources through tsx.

import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync(new URL('../dist/cli', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: [new URL('../cli/main.ts', import.meta.url).pathname],
  outdir: new URL('../dist/cli', import.meta.url).pathname,
  bundle: true,
  splitting: true, // the AWS SDK stays in its own chunk, loaded only for --kinesis-stream
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
console.log('built dist/cli/main.js');
