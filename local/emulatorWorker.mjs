// The worker thread's entry (plain JavaScript, so it starts the same under tsx, jest and node):
// registers tsx, then runs the TypeScript emulator host.
import { register } from 'tsx/esm/api';

register();
await import('./emulatorHost.ts');
