import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { projectRoot } from '../helpers/scenario.ts';

const run = promisify(execFile);
const cli = join(projectRoot, 'bin', 'leakwatch.js');
async function leakwatch(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('leakwatch devices', () => {
  it('registers identifiers and canaries as digests only, and lists counts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-registry-'));

    const registered = await leakwatch(
      'devices',
      'register',
      '--data-dir',
      dataDir,
      '--device-id',
      'lab-07',
      '--imei',
      '490154203237518',
      '--imei',
      '356938035643809',
      '--canary-sms',
      'canary text 42',
    );
    const listed = await leakwatch('devices', 'list', '--data-dir', dataDir, '--json');
    const file = await readFile(join(dataDir, 'registry.json'), 'utf8');

    expect(registered.code).toBe(0);
    expect(registered.stderr).toContain('lab-07: 3 values registered as digests');
    expect(JSON.parse(listed.stdout)).toEqual([
      { device: 'lab-07', registeredAt: expect.any(String), counts: { imei: 2, 'sms-content': 1 } },
    ]);
    for (const value of ['490154203237518', '356938035643809', 'canary text 42'])
      expect(file).not.toContain(value);
  });

  it('refuses a registration without values or without a device id', async () => {
    const none = await leakwatch(
      'devices',
      'register',
      '--device-id',
      'x',
      '--data-dir',
      join(tmpdir(), 'unused'),
    );
    const noId = await leakwatch('devices', 'register', '--imei', '490154203237518');

    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('nothing to register')]);
    expect([noId.code, noId.stderr]).toEqual([
      2,
      expect.stringContaining("required option '--device-id <id>' not specified"),
    ]);
  });
});
