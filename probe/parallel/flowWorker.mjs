// A flow-table worker's entry in the sources (plain JavaScript, so it starts the same under tsx,
// jest and node): registers tsx, then runs the TypeScript host. The bundle has its own
// dist/cli/flowWorker.mjs (scripts/build-cli.mjs), next to the code that starts it.
import { register } from 'tsx/esm/api';

register();
await import('./flowWorkerHost.ts');
