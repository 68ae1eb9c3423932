import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * One process at a time opens a data directory's store (dynalite keeps it in LevelDB, which one
 * process may hold): `<data dir>/in-use.json` names the process that has it. A command finding it
 * held waits a while for a short-lived holder (another command) and otherwise says who holds it;
 * `leakwatch serve` holds it for as long as it runs and writes its endpoints there, so the history
 * commands read the store through the running serve instead. A holder that died (kill -9) leaves
 * the file behind; its pid is gone, so the next command takes the directory over.
 */
export interface DataDirOwner {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
  /** For leakwatch serve: where its DynamoDB and Kinesis answer. */
  readonly dynamoEndpoint?: string;
  readonly kinesisEndpoint?: string;
  readonly stream?: string;
}

export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
}

export interface DataDirLock {
  /** Adds serve's endpoints to the file (after its emulators listen). */
  describe(details: Pick<DataDirOwner, 'dynamoEndpoint' | 'kinesisEndpoint' | 'stream'>): void;
  release(): void;
}

const FILE = 'in-use.json';
/** Locks this process holds, by directory (a process may open its own directory twice). */
const held = new Map<string, { count: number; owner: DataDirOwner }>();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The live process holding the directory, if any (a dead holder's file is ignored). */
export function ownerOf(dataDir: string): DataDirOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as DataDirOwner;
    return typeof owner.pid === 'number' && alive(owner.pid) ? owner : undefined;
  } catch {
    return undefined;
  }
}

export const describeOwner = (owner: DataDirOwner) =>
  `leakwatch ${owner.command} (pid ${owner.pid}, since ${owner.since.slice(0, 19).replace('T', ' ')})`;

/**
 * Takes the directory for `command`. Waits up to `waitMs` for another command to finish; a running
 * `serve` is never waited for. Throws DataDirBusyError naming the holder.
 */
export async function lockDataDir(dataDir: string, command: string, waitMs = 15_000): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, FILE);
  const mine = held.get(dataDir);
  if (mine) {
    mine.count++;
    return handle(dataDir, path);
  }
  const deadline = Date.now() + waitMs;
  const owner: DataDirOwner = { pid: process.pid, command, since: new Date().toISOString() };
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, `${JSON.stringify(owner)}\n`);
      closeSync(fd);
      held.set(dataDir, { count: 1, owner });
      return handle(dataDir, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const current = ownerOf(dataDir);
    if (!current) {
      // Left by a process that is gone (or half written by one): take it over.
      try {
        unlinkSync(path);
      } catch {}
      continue;
    }
    if (current.command === 'serve' || Date.now() >= deadline)
      throw new DataDirBusyError(
        `${dataDir} is in use by ${describeOwner(current)}${
          current.command === 'serve'
            ? `: stream captures into it with leakwatch probe --kinesis-endpoint ${current.kinesisEndpoint ?? 'http://HOST:PORT'} --kinesis-stream ${current.stream ?? 'leakwatch-flows-local'} --lab-config LAB.json CAPTURE…, or stop it (Ctrl-C) first`
            : ': wait for it to finish, or use another --data-dir'
        }`,
      );
    await delay(100);
  }
}

function handle(dataDir: string, path: string): DataDirLock {
  let released = false;
  return {
    describe(details) {
      const entry = held.get(dataDir);
      if (!entry) return;
      entry.owner = { ...entry.owner, ...details };
      writeFileSync(path, `${JSON.stringify(entry.owner)}\n`);
    },
    release() {
      if (released) return;
      released = true;
      const entry = held.get(dataDir);
      if (!entry) return;
      if (--entry.count > 0) return;
      held.delete(dataDir);
      try {
        unlinkSync(path);
      } catch {}
    },
  };
}
