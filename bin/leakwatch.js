#!/usr/bin/env -S node --max-old-space-size=192
// Runs the `leakwatch` command line: the esbuild bundle in dist/cli when it is newer than every
// source file (npm install builds it), else the TypeScript sources through tsx.
// LEAKWATCH_BUNDLE_ONLY=1 refuses the fallback (the installed-CLI tests use it: they must run the
// bundle a user gets, never the sources).
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
    const built = statSync(join(root, 'dist', 'cli', 'main.mjs')).mtimeMs;
    return SOURCE_DIRS.every((dir) => newestSource(join(root, dir)) <= built);
  } catch {
    return false;
  }
}

// The AWS SDK's notice that its 2027 releases need Node 22 is for developers, not CLI users (the
// Lambda functions run nodejs24.x).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A reader that goes away (leakwatch alerts | head) ends the command quietly, as other tools do.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

let main;
if (bundleIsFresh() && process.env.LEAKWATCH_FROM_SOURCE !== '1') {
  ({ main } = await import('../dist/cli/main.mjs'));
} else if (process.env.LEAKWATCH_BUNDLE_ONLY === '1') {
  process.stderr.write(
    'leakwatch: LEAKWATCH_BUNDLE_ONLY=1 but dist/cli/main.mjs is missing or older than the sources (npm run build)\n',
  );
  process.exit(70);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
