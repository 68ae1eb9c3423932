import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CaptureFormatError } from '../../probe/errors.ts';
import { harEntries } from '../../probe/har/harStream.ts';
import { projectRoot } from '../helpers/scenario.ts';

/** Every HAR file bundled with the tests (mitmproxy's, browsers'). */
function harFiles(dir = join(projectRoot, 'test', 'fixtures', 'mitmproxy-har')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return harFiles(path);
    return name.endsWith('.har') ? [path] : [];
  });
}

async function collect(bytes: Buffer, chunkSize: number): Promise<unknown[]> {
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  }
  const out: unknown[] = [];
  for await (const entry of harEntries(chunks(), 'test.har')) out.push(entry);
  return out;
}

describe('harEntries (streamed HAR)', () => {
  it("gives each bundled HAR file's log.entries, as JSON.parse of the whole document does, in any chunking", async () => {
    const files = harFiles();
    expect(files.length).toBeGreaterThan(5);
    let compared = 0;
    for (const file of files) {
      const bytes = readFileSync(file);
      let whole: { log?: { entries?: unknown[] } };
      try {
        whole = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
      } catch {
        await expect(collect(bytes, 4096)).rejects.toThrow(CaptureFormatError);
        continue;
      }
      if (!Array.isArray(whole.log?.entries)) {
        await expect(collect(bytes, 4096)).rejects.toThrow(CaptureFormatError);
        continue;
      }
      for (const size of [1, 7, 4096, bytes.length])
        expect(await collect(bytes, size)).toEqual(whole.log!.entries);
      compared++;
    }
    expect(compared).toBeGreaterThan(5);
  });

  it('on any JSON document with log.entries, gives the entries (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 8 }),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        fc.integer({ min: 1, max: 64 }),
        async (entries, extra, chunkSize) => {
          const doc = { ...extra, log: { version: '1.2', ...extra, entries } };
          const parsed = JSON.parse(JSON.stringify(doc)).log.entries;
          expect(await collect(Buffer.from(JSON.stringify(doc)), chunkSize)).toEqual(parsed);
        },
      ),
      { numRuns: 500, seed: 20261202 },
    );
  });

  it('returns an entry that is not JSON as a SyntaxError and goes on; refuses a document without log.entries', async () => {
    const entries = await collect(Buffer.from('{"log":{"entries":[{"a":1},{"b":tru},{"c":3}]}}'), 5);
    expect(entries[0]).toEqual({ a: 1 });
    expect(entries[1]).toBeInstanceOf(SyntaxError);
    expect(entries[2]).toEqual({ c: 3 });
    await expect(collect(Buffer.from('{"log":{"pages":[]}}'), 5)).rejects.toThrow(
      /log\.entries: no such array/,
    );
    await expect(collect(Buffer.from('[1,2]'), 5)).rejects.toThrow(CaptureFormatError);
  });
});
