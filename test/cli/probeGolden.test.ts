import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
// @ts-expect-error: a plain ESM script shared with `node scripts/probe-golden.mjs`, no types.
import { bundledCaptures, GOLDEN, probeOutput } from '../../scripts/probe-golden.mjs';
import { cliEnv } from '../helpers/installedCli.ts';

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
});
