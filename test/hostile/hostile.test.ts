import { readFileSync } from 'node:fs';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { FlowRecordSchema } from '../../schema/flowRecord.ts';
import { leakwatch } from '../helpers/installedCli.ts';
import { projectRoot } from '../helpers/scenario.ts';

/**
 * The hostile corpus (scripts/make-hostile-corpus.ts, issue 20) through the installed probe: no
 * crash, every record valid under the schema ingest applies, and the ordinary leak each input
 * carries (the IMEI in a plaintext POST) still arrives as a candidate.
 */
const DIR = join(projectRoot, 'test', 'hostile');
const corpus: {
  imei: string;
  inputs: {
    file: string;
    what: string;
    expect: { exit: number; imei: boolean; stderr?: string; stdout?: string };
  }[];
} = JSON.parse(readFileSync(join(DIR, 'corpus.json'), 'utf8'));

describe('hostile inputs (installed probe)', () => {
  it('the corpus is there', () => {
    expect(corpus.inputs.length).toBeGreaterThanOrEqual(4);
  });

  it.each(corpus.inputs.map((input) => [input.file, input] as const))('%s', async (file, input) => {
    const result = await leakwatch(
      ['probe', '--lab-config', 'scenario/lab/build-1.json', join('test', 'hostile', file)],
      { timeoutMs: 60_000 },
    );
    expect(result.stderr).not.toMatch(/\n\s+at |Node\.js v\d/); // no stack trace
    expect(result.code).toBe(input.expect.exit);
    if (input.expect.stderr) expect(result.stderr).toContain(input.expect.stderr);
    if (input.expect.stdout) expect(result.stdout).toContain(input.expect.stdout);
    // Every record fits a Kinesis record (1 MiB, partition key included).
    for (const line of result.stdout.split('\n'))
      expect(Buffer.byteLength(line)).toBeLessThan(1024 * 1024 - 256);
    const records = result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { kind?: string; candidates?: { value: string }[] })
      .filter((record) => record.kind === undefined);
    for (const record of records) expect(FlowRecordSchema.safeParse(record).error).toBeUndefined();
    const values = records.flatMap((record) => (record.candidates ?? []).map((c) => c.value));
    if (input.expect.imei) expect(values).toContain(corpus.imei);
  });

  it('a corrupt record late in a capture: every record before it is written (probe) and counted (run), then exit 3', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-late-corrupt-'));
    try {
      // build-2.pcap with its third-last packet record's header claiming 2 GiB.
      const capture = readFileSync(join(projectRoot, 'scenario', 'captures', 'build-2.pcap'));
      const starts: number[] = [];
      for (let at = 24; at < capture.length; at += 16 + capture.readUInt32LE(at + 8)) starts.push(at);
      const damaged = Buffer.from(capture);
      const at = starts.at(-3)!;
      damaged.writeUInt32LE(0x7fffffff, at + 8);
      damaged.writeUInt32LE(0x7fffffff, at + 12);
      const file = join(dir, 'late-corrupt.pcap');
      await writeFile(file, damaged);

      const probe = await leakwatch(['probe', '--lab-config', 'scenario/lab/build-2.json', file]);
      expect(probe.code).toBe(3);
      expect(probe.stderr).toContain(`corrupt packet record at byte ${at}`);
      const records = probe.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind?: string; candidates: { value: string }[] });
      expect(records.length).toBeGreaterThan(0);
      expect(records.some((r) => r.kind === 'session-end')).toBe(false); // a capture cut short ends no session
      expect(records.flatMap((r) => r.candidates.map((c) => c.value))).toContain('864690020123454');

      const run = await leakwatch([
        'run',
        '--data-dir',
        join(dir, 'store'),
        '--lab-config',
        'scenario/lab/build-1.json',
        'scenario/captures/build-1.pcap',
        '--lab-config',
        'scenario/lab/build-2.json',
        file,
      ]);
      expect(run.code).toBe(3);
      expect(run.stdout).toContain('is not ended: flows read before this are counted');
      expect(run.stdout).toContain(`build KHHCNBH39.0 (built 2014-08-05): ${records.length} flows`);
      expect(run.stdout).toContain('AlertsRaised 15');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a 60 MB HAR file is read entry by entry (a 44 MB one ran the probe out of memory)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-bighar-'));
    try {
      const entry = (i: number) =>
        JSON.stringify({
          startedDateTime: '2026-12-01T09:00:00.000Z',
          time: 5,
          request: {
            method: 'POST',
            url: `http://203.0.113.50/upload/${i}`,
            headers: [{ name: 'Content-Type', value: 'text/plain' }],
            postData: { mimeType: 'text/plain', text: `imei ${corpus.imei} ${'z'.repeat(20_000)}` },
          },
        });
      const entries = 3000;
      const path = join(dir, 'big.har');
      const out = await open(path, 'w');
      await out.write('{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[');
      for (let i = 0; i < entries; i++) await out.write(`${i > 0 ? ',' : ''}${entry(i)}`);
      await out.write(']}}');
      await out.close();
      expect((await stat(path)).size).toBeGreaterThan(60_000_000);
      const result = await leakwatch(['probe', '--lab-config', 'scenario/lab/build-1.json', path], {
        timeoutMs: 120_000,
      });
      expect(result.stderr).not.toMatch(/heap out of memory|\n\s+at /);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain(`big.har: HAR, ${entries} entries, ${entries} flow records`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
