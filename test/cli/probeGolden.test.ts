import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
// @ts-expect-error: a plain ESM script shared with `node scripts/probe-golden.mjs`, no types.
import { bundledCaptures, GOLDEN, normalise, probeOutput } from '../../scripts/probe-golden.mjs';
import { cliEnv, leakwatch } from '../helpers/installedCli.ts';
import { projectRoot } from '../helpers/scenario.ts';

/**
 * The records the installed `leakwatch probe --ndjson` writes for every capture bundled with the
 * project are byte-identical to those pinned in test/fixtures/probe-golden.ndjson.gz (written by
 * the probe before its record encoding and worker threads: issue 18). Run id and the session
 * end's wall-clock time are normalised; everything else, key order included, must match.
 */
const golden: string = gunzipSync(readFileSync(GOLDEN)).toString('utf8');

function firstDifference(actual: string, expected: string): string {
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++)
    if (a[i] !== e[i]) return `line ${i + 1}:\n  got      ${a[i]}\n  expected ${e[i]}`;
  return 'none';
}

describe('probe records of the bundled captures', () => {
  it('are byte-identical to the pinned records, from the installed command', () => {
    const captures: string[] = bundledCaptures();
    expect(captures.length).toBeGreaterThanOrEqual(40);
    const { stdout, stderr } = probeOutput([], cliEnv());
    // Every capture was read (some hold no flow: truncated headers, ICMP only).
    for (const capture of captures) expect(stderr).toContain(`leakwatch probe: ${capture}: `);
    expect(firstDifference(stdout, golden)).toBe('none');
    expect(stdout).toBe(golden);
  });

  it.each([2, 3])(
    'are the same records in the same order with --threads %i (flow-table workers)',
    (threads) => {
      const { stdout, stderr } = probeOutput(['--threads', String(threads)], cliEnv());
      expect(stderr).toContain(`(${threads} threads)`);
      expect(firstDifference(stdout, golden)).toBe('none');
    },
  );
});

describe('probe --threads on a capture of many short flows', () => {
  it('writes the records of one thread, in its order, with 2 and 3 threads (no table limit bites at 6 MB)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-threads-'));
    try {
      const capture = join(dir, 'short.pcap');
      const made = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/generateCapture.ts',
          '--out',
          capture,
          '--megabytes',
          '6',
          '--shape',
          'short',
        ],
        { cwd: projectRoot, encoding: 'utf8' },
      );
      expect(made.status).toBe(0);
      const lab = ['--lab-config', 'scenario/lab/build-1.json', '--ndjson'];
      const one = await leakwatch(['probe', ...lab, '--threads', '1', capture]);
      expect(one.code).toBe(0);
      const flows = Number(/packets, (\d+) flows/.exec(one.stderr)?.[1]);
      expect(flows).toBeGreaterThan(5000);
      expect(one.stdout.split('\n').length - 1).toBe(flows + 1);
      for (const threads of ['2', '3']) {
        const many = await leakwatch(['probe', ...lab, '--threads', threads, capture]);
        expect(many.code).toBe(0);
        expect(many.stderr).toContain(`${flows} flows (${threads} threads)`);
        expect(firstDifference(normalise(many.stdout), normalise(one.stdout))).toBe('none');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a --threads that is not a whole number from 1 to 256, and --threads with live input', async () => {
    for (const bad of ['0', 'two', '1.5', '257']) {
      const result = await leakwatch([
        'probe',
        '--lab-config',
        'scenario/lab/build-1.json',
        '--threads',
        bad,
        'scenario/captures/build-1.pcap',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--threads "${bad}" is not a whole number from 1 to 256`);
      expect(result.stdout).toBe('');
    }
    const live = await leakwatch([
      'probe',
      '--lab-config',
      'scenario/lab/build-1.json',
      '--threads',
      '2',
      '--listen',
      'udp://127.0.0.1:0',
    ]);
    expect(live.code).toBe(2);
    expect(live.stderr).toContain('--threads is for capture files: live input is read by one thread');
  });

  it('refuses --allow without the UDP listener or with what is not an IP address, before anything starts', async () => {
    const cases: [string[], string][] = [
      [
        ['--allow', '127.0.0.2', 'scenario/captures/build-1.pcap'],
        '--allow is for live input (--listen udp://HOST:PORT)',
      ],
      [
        ['--allow', '127.0.0.2', '--listen', 'tcp://127.0.0.1:0'],
        '--allow is for the UDP listener (udp://HOST:PORT)',
      ],
      [
        ['--allow', 'lab-phone', '--listen', 'udp://127.0.0.1:0'],
        '--allow "lab-phone" is not an IP address (e.g. --allow 192.168.1.23)',
      ],
    ];
    for (const [flags, message] of cases) {
      const result = await leakwatch(['probe', '--lab-config', 'scenario/lab/build-1.json', ...flags]);
      expect({ flags, code: result.code, stdout: result.stdout }).toEqual({ flags, code: 2, stdout: '' });
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain('listening on');
    }
  });
});
