// Before the suites: the installed-CLI tests run the bundle in dist/cli (LEAKWATCH_BUNDLE_ONLY=1).
// After `npm ci` it is fresh; after editing sources it is rebuilt here with the script npm install
// runs (scripts/build-cli.mjs), so the tests always run what a user's install would build.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function globalSetup() {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const env = { ...process.env, LEAKWATCH_BUNDLE_ONLY: '1' };
  delete env.NODE_OPTIONS;
  const probe = spawnSync(process.execPath, ['bin/leakwatch.js', '--version'], { cwd: root, env });
  if (probe.status === 0) return;
  const build = spawnSync(process.execPath, ['scripts/build-cli.mjs'], { cwd: root, stdio: 'inherit', env });
  if (build.status !== 0) throw new Error('npm run build failed: the installed-CLI tests need dist/cli');
}
