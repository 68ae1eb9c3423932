import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';

/**
 * Records the stream could not take, kept on disk in the order they were written until it can:
 * one NDJSON file per spooled batch (`<time>-<seq>.ndjson`, a line per record: partition key and
 * data in base64), fsynced before the records count as accepted. Files are sent oldest first; a
 * file is removed only when every record in it was accepted (a partly sent file is rewritten with
 * what is left), so a crash at any point loses nothing (it may send a record twice, which ingest
 * counts once).
 */
export class Spool {
  private seq = 0;

  constructor(readonly dir: string) {}

  /** Appends a batch (at most one PutRecords request's worth) as one new file, durably. */
  async add(entries: readonly PutRecordsRequestEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${String(this.seq++).padStart(6, '0')}.ndjson`;
    await this.write(name, entries);
  }

  /** The spooled files, oldest first. */
  async files(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.ndjson')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** How many records are spooled. */
  async size(): Promise<number> {
    let n = 0;
    for (const f of await this.files()) n += (await this.read(f)).length;
    return n;
  }

  async read(file: string): Promise<PutRecordsRequestEntry[]> {
    const text = await readFile(join(this.dir, file), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l, i) => {
        try {
          const { k, d } = JSON.parse(l) as { k: string; d: string };
          return { PartitionKey: k, Data: Buffer.from(d, 'base64') };
        } catch {
          throw new Error(`spool file ${join(this.dir, file)} line ${i + 1} is not a spooled record`);
        }
      });
  }

  /** What is left of a file after some of its records were accepted (none: the file goes). */
  async keep(file: string, rest: readonly PutRecordsRequestEntry[]): Promise<void> {
    if (rest.length === 0) await rm(join(this.dir, file), { force: true });
    else await this.write(file, rest);
  }

  /** Writes a spool file whole or not at all: a synced temporary file renamed into place. */
  private async write(file: string, entries: readonly PutRecordsRequestEntry[]): Promise<void> {
    const tmp = join(this.dir, `.${file}.tmp`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(entries.map(line).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, join(this.dir, file));
  }
}

function line(entry: PutRecordsRequestEntry): string {
  return `${JSON.stringify({ k: entry.PartitionKey, d: Buffer.from(entry.Data!).toString('base64') })}\n`;
}
