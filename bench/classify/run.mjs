// Runs the classification benchmark as the Lambda runs the code: bundled by esbuild (no tsx
// transform wrappers), dependencies external. Usage: npm run bench:classify [-- --rounds 5]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const outfile = fileURLToPath(new URL('../out/classify-bench.mjs', import.meta.url));
await build({
  entryPoints: [fileURLToPath(new URL('./index.ts', import.meta.url))],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
