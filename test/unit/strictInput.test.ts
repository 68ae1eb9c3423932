import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  ConfigFileError,
  editDistance,
  nearest,
  parseConfigText,
  unknownName,
} from '../../core/config/strictParse.ts';
import { identifierProblem } from '../../core/registry/identifiers.ts';
import { DataDirBusyError, lockDataDir, ownerOf } from '../../local/dataDirLock.ts';

/** What bad input a lab writes by hand meets: strict files, checked identifiers, a held data directory. */
describe('strict config files', () => {
  it('edit distance and the nearest known word', () => {
    expect(editDistance('consentProfle', 'consentProfile')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('abc', 'abcdefgh', 2)).toBe(3); // early exit past max
    expect(nearest('consentProfle', ['id', 'consent', 'consentProfile'])).toBe('consentProfile');
    expect(nearest('DEVICE', ['device', 'firmware'])).toBe('device');
    expect(nearest('zzzzzz', ['device', 'firmware'])).toBeUndefined();
    expect(unknownName('service', 'xiaomi.analytcs', ['xiaomi.ads', 'xiaomi.analytics'])).toBe(
      'unknown service "xiaomi.analytcs" (did you mean "xiaomi.analytics"?)',
    );
    expect(unknownName('service', 'acme.tracker', ['xiaomi.ads'])).toBe('unknown service "acme.tracker"');
  });

  const Schema = z.strictObject({
    device: z.strictObject({ id: z.string(), model: z.string().optional() }),
    captures: z.array(z.strictObject({ path: z.string(), labConfig: z.string() })),
  });
  const problems = (text: string) => {
    try {
      parseConfigText(Schema, text, 'manifest', 'm.json');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigFileError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  it('names every problem with its place, and unknown keys with the known ones', () => {
    const text = JSON.stringify({
      device: { id: 'd1', modle: 'x' },
      captures: [
        { path: 'a.pcap', labConfig: 'a.json' },
        { path: 'b.pcap', labconfig: 'b.json' },
      ],
      extra: 1,
    });
    expect(problems(text).split('\n')).toEqual([
      'manifest m.json is invalid:',
      '  device: unknown key "modle" (did you mean "model"?); known keys here: id, model',
      expect.stringMatching(/^ {2}captures\[1\]\.labConfig: /),
      '  captures[1]: unknown key "labconfig" (did you mean "labConfig"?); known keys here: path, labConfig',
      '  (top level): unknown key "extra"; known keys here: device, captures',
    ]);
  });

  it('says when a file is not JSON at all', () => {
    expect(problems('{"device": ')).toMatch(/^manifest m\.json is not valid JSON: /);
  });

  it('returns the parsed value when the file is right', () => {
    expect(parseConfigText(Schema, '{"device":{"id":"d"},"captures":[]}', 'manifest', 'm.json')).toEqual({
      device: { id: 'd' },
      captures: [],
    });
  });
});

describe('identifiers a lab registers', () => {
  it.each([
    ['imei', '490154203237518'],
    ['imei', '49-015420-323751-8'],
    ['imsi', '460001234567890'],
    ['imsi', '310260123456789'],
    ['phone-number', '+86 138 0013 8000'],
    ['phone-number', '+14155552671'],
    ['wifi-mac', '64:09:80:1a:2b:3c'],
    ['bluetooth-mac', '6409801A2B3C'],
    ['android-id', '9774d56d682e549c'],
    ['advertising-id', '38400000-8cf0-11bd-b23e-10b96e40000d'],
    ['iccid', '8986001234567890120'],
    ['email', 'lab@example.com'],
  ] as const)('%s %s is accepted', (type, value) => {
    expect(identifierProblem(type, value)).toBeUndefined();
  });

  it.each([
    ['imei', '12345', /15 digits/],
    ['imei', '490154203237519', /Luhn check digit/],
    ['imsi', '000001234567890', /000 is not a mobile country code/],
    ['imsi', '4600012', /14 or 15 digits/],
    ['phone-number', '13800138000', /write it with \+ and the country code/],
    ['phone-number', '+86 12', /not a valid E\.164 number/],
    ['wifi-mac', '64:09:80:1a:2b', /six hex pairs/],
    ['wifi-mac', '64:09-80:1a:2b:3c', /six hex pairs/],
    ['android-id', 'xyz', /16 hexadecimal digits/],
    ['advertising-id', '38400000', /UUID/],
    ['iccid', '1234567890123456789', /starting with 89/],
    ['iccid', '8986001234567890123', /Luhn check digit/],
    ['email', 'lab@', /e-mail/],
    ['contact', '   ', /is empty/],
  ] as const)('%s %s is refused', (type, value, message) => {
    expect(identifierProblem(type, value)).toMatch(message);
  });
});

describe('a data directory held by one process', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'lw-lock-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  /** A live process other than this one, and a way to end it. */
  const otherProcess = () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    return { pid: child.pid!, stop: () => child.kill('SIGKILL') };
  };
  const holdAs = (dir: string, pid: number, command: string, extra: object = {}) =>
    writeFileSync(
      join(dir, 'in-use.json'),
      JSON.stringify({ pid, command, since: '2026-12-01T10:00:00.000Z', ...extra }),
    );

  it('is taken, described, re-entered by the same process and released', async () => {
    const dir = fresh();
    const lock = await lockDataDir(dir, 'run');
    expect(ownerOf(dir)).toMatchObject({ pid: process.pid, command: 'run' });
    const again = await lockDataDir(dir, 'alerts', 0); // the same process opens it twice
    again.release();
    expect(existsSync(join(dir, 'in-use.json'))).toBe(true);
    lock.describe({ dynamoEndpoint: 'http://127.0.0.1:1' });
    expect(JSON.parse(readFileSync(join(dir, 'in-use.json'), 'utf8'))).toMatchObject({
      command: 'run',
      dynamoEndpoint: 'http://127.0.0.1:1',
    });
    lock.release();
    lock.release(); // twice is harmless
    expect(existsSync(join(dir, 'in-use.json'))).toBe(false);
  });

  it('left by a process that died (kill -9) is taken over', async () => {
    const dir = fresh();
    const other = otherProcess();
    const exited = new Promise((resolve) => setTimeout(resolve, 50)).then(() => other.stop());
    await exited;
    await new Promise((resolve) => setTimeout(resolve, 200));
    holdAs(dir, other.pid, 'serve');
    expect(ownerOf(dir)).toBeUndefined();
    const lock = await lockDataDir(dir, 'run', 0);
    expect(ownerOf(dir)).toMatchObject({ pid: process.pid, command: 'run' });
    lock.release();
  });

  it('a half-written file is taken over', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'in-use.json'), '{"pid": 12');
    (await lockDataDir(dir, 'run', 0)).release();
  });

  it('held by a running serve: refused at once, naming it and how to stream into it', async () => {
    const dir = fresh();
    const other = otherProcess();
    try {
      holdAs(dir, other.pid, 'serve', { kinesisEndpoint: 'http://127.0.0.1:4567', stream: 'lab-flows' });
      const started = Date.now();
      const refused = lockDataDir(dir, 'run', 10_000);
      await expect(refused).rejects.toThrow(DataDirBusyError);
      await expect(refused).rejects.toThrow(
        `${dir} is in use by leakwatch serve (pid ${other.pid}, since 2026-12-01 10:00:00): stream captures into it with leakwatch probe --kinesis-endpoint http://127.0.0.1:4567 --kinesis-stream lab-flows`,
      );
      expect(Date.now() - started).toBeLessThan(5_000); // serve is never waited for
    } finally {
      other.stop();
    }
  });

  it('held by another command: waited for, then refused naming it', async () => {
    const dir = fresh();
    const other = otherProcess();
    try {
      holdAs(dir, other.pid, 'run');
      const started = Date.now();
      await expect(lockDataDir(dir, 'alerts', 300)).rejects.toThrow(
        /is in use by leakwatch run \(pid \d+, since 2026-12-01 10:00:00\): wait for it to finish, or use another --data-dir/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      // Once it is done, the waiting command gets the directory.
      const waiting = lockDataDir(dir, 'alerts', 10_000);
      setTimeout(() => rmSync(join(dir, 'in-use.json')), 200);
      (await waiting).release();
    } finally {
      other.stop();
    }
  });
});
