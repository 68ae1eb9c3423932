// Bundles the `leakwatch` command line into dist/cli/ with esbuild, so a start does not compile
// TypeScript (about half a second saved per run). bin/leakwatch.js uses the bundle only while it
// is newer than every source file; otherwise it runs the sources through tsx.
//
// Three entry points: the command line (main.mjs), the local emulators' worker thread
// (emulatorWorker.mjs) and the probe's flow-table workers (flowWorker.mjs), each started from the
// file next to the code that starts it: in the sources local/emulatorWorker.mjs and
// probe/parallel/flowWorker.mjs (register tsx, then run the TypeScript host), in the bundle
// dist/cli/emulatorWorker.mjs and dist/cli/flowWorker.mjs (the hosts, bundled). Every file the CLI loads at run time is
// here or in node_modules; test/cli/installed.test.ts runs the bundle as a subprocess to prove it.

import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const path = (relative) => new URL(relative, import.meta.url).pathname;
rmSync(path('../dist/cli'), { recursive: true, force: true });
await build({
  entryPoints: {
    main: path('../cli/main.ts'),
    emulatorWorker: path('../local/emulatorHost.ts'),
    flowWorker: path('../probe/parallel/flowWorkerHost.ts'),
  },
  outdir: path('../dist/cli'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true, // the AWS SDK stays in its own chunk, loaded only for --kinesis-stream
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
console.log('built dist/cli/main.mjs, emulatorWorker.mjs and flowWorker.mjs');
