#!/usr/bin/env -S node --max-old-space-size=192
// Runs the `leakwatch` command line: the esbuild bundle in dist/cli when it is newer than every
// source file (npm install builds it), else the TypeScript sources through tsx.
// The heap cap keeps the probe's memory bounded: its live data is bounded by the flow table's
// limits, but V8 otherwise lets garbage grow the heap with the input (npx and direct runs apply it).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['cli', 'probe', 'schema', 'core', 'local', 'lambdas'];

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    const built = statSync(join(root, 'dist', 'cli', 'main.js')).mtimeMs;
    return SOURCE_DIRS.every((dir) => newestSource(join(root, dir)) <= built);
  } catch {
    return false;
  }
}

let main;
if (bundleIsFresh() && process.env.LEAKWATCH_FROM_SOURCE !== '1') {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
