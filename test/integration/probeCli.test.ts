import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { projectRoot } from '../helpers/scenario.ts';

const run = promisify(execFile);
const cli = join(projectRoot, 'bin', 'leakwatch.js');
const lab2 = join(projectRoot, 'scenario', 'lab', 'build-2.json');
const capture2 = join(projectRoot, 'scenario', 'captures', 'build-2.pcap');

async function leakwatch(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      cwd: projectRoot,
      env: { ...process.env, NODE_OPTIONS: '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('leakwatch probe (command line)', () => {
  it('writes NDJSON flow records to stdout and a summary to stderr', async () => {
    const { code, stdout, stderr } = await leakwatch('probe', '--lab-config', lab2, capture2);

    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    // Six flow records, then the session-end record of this probe run.
    expect(lines).toHaveLength(7);
    expect(lines[0].firmware.build).toBe('KHHCNBH39.0');
    expect(new Set(lines.map((l) => l.probe.run)).size).toBe(1);
    expect(lines[6]).toMatchObject({ kind: 'session-end', flows: 6, session: { id: 'redmi1s-b39-oobe' } });
    expect(stderr).toContain('build-2.pcap: pcap, 44 packets, 6 flows');
    expect(stderr).toContain('6 flow records written');
  });

  it('lets flags override the lab config', async () => {
    const { code, stdout } = await leakwatch(
      'probe',
      '--lab-config',
      lab2,
      '--build',
      'TEST.1',
      '--consent',
      'xiaomi.cloud-messaging=granted',
      capture2,
    );

    expect(code).toBe(0);
    const first = JSON.parse(stdout.split('\n')[0]!);
    expect(first.firmware.build).toBe('TEST.1');
    expect(first.session.consent).toMatchObject({
      'xiaomi.cloud-messaging': 'granted',
      'xiaomi.account': 'denied',
    });
  });

  it("takes consent from a named profile, the lab's own profiles file, and rejects an unknown one", async () => {
    const own = join(await mkdtemp(join(tmpdir(), 'leakwatch-consent-')), 'profiles.json');
    await writeFile(
      own,
      JSON.stringify({
        profiles: { 'ads-on': { description: 'ads opted in', consent: { 'xiaomi.ads': 'granted' } } },
      }),
    );
    const named = await leakwatch(
      'probe',
      '--lab-config',
      lab2,
      '--consent-profile',
      'vendor-account',
      capture2,
    );
    expect(JSON.parse(named.stdout.split('\n')[0]!).session).toMatchObject({
      consentProfile: 'vendor-account',
      consent: { 'xiaomi.cloud-messaging': 'granted', 'xiaomi.analytics': 'denied' },
    });
    const mine = await leakwatch(
      'probe',
      '--lab-config',
      lab2,
      '--consent-profiles',
      own,
      '--consent-profile',
      'ads-on',
      capture2,
    );
    expect(JSON.parse(mine.stdout.split('\n')[0]!).session.consent['xiaomi.ads']).toBe('granted');
    const unknown = await leakwatch('probe', '--lab-config', lab2, '--consent-profile', 'no-such', capture2);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown consent profile "no-such"; known: out-of-box, vendor-account');
  });

  it('exits 3 naming a missing capture', async () => {
    const { code, stderr } = await leakwatch('probe', '--lab-config', lab2, 'no/such/file.pcap');

    expect(code).toBe(3);
    expect(stderr).toContain('cannot read capture no/such/file.pcap: no such file');
  });

  it('exits 3 naming a file that is not a capture', async () => {
    const notPcap = join(tmpdir(), `leakwatch-not-a-pcap-${process.pid}.pcap`);
    await writeFile(notPcap, 'this is a text file, long enough for a header');

    const { code, stderr } = await leakwatch('probe', '--lab-config', lab2, notPcap);

    expect(code).toBe(3);
    expect(stderr).toMatch(/not a capture file: magic number 0x74686973 at offset 0 is neither pcap/);
  });

  it('exits 2 on an unknown flag, a bad consent value, or a missing context field', async () => {
    const unknown = await leakwatch('probe', '--no-such-flag', capture2);
    const consent = await leakwatch('probe', '--lab-config', lab2, '--consent', 'xiaomi=maybe', capture2);
    const missing = await leakwatch('probe', '--device-id', 'd1', capture2);

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--no-such-flag'");
    expect(consent.code).toBe(2);
    expect(consent.stderr).toContain('--consent "xiaomi=maybe" is not SERVICE=granted or SERVICE=denied');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('firmware.build (--build)');
  });

  it('documents every flag with an example in --help', async () => {
    const { code, stdout } = await leakwatch('probe', '--help');

    expect(code).toBe(0);
    for (const flag of [
      '--lab-config',
      '--device-id',
      '--firmware-line',
      '--built-at',
      '--consent',
      '--kinesis-stream',
      '--kinesis-endpoint',
      '--ndjson',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain('Examples:');
  });
});

describe('leakwatch probe with HAR and pcapng input', () => {
  it('reads a mitmproxy HAR export by its content', async () => {
    const har = join(projectRoot, 'test', 'fixtures', 'mitmproxy-har', 'flows', 'successful_log.har');

    const { code, stdout, stderr } = await leakwatch('probe', '--lab-config', lab2, har);

    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).probe.input),
    ).toEqual(['har', 'har']);
    expect(stderr).toContain('successful_log.har: HAR, 2 entries, 2 flow records');
  });

  it('exits 3 naming a corrupt HAR file', async () => {
    const har = join(projectRoot, 'test', 'fixtures', 'mitmproxy-har', 'corrupted_har', 'brokenfile.har');

    const { code, stderr } = await leakwatch('probe', '--lab-config', lab2, har);

    expect(code).toBe(3);
    expect(stderr).toContain('brokenfile.har: not a HAR file:');
  });

  it('reads pcapng and names the format in its summary', async () => {
    const pcapng = join(projectRoot, 'test', 'fixtures', 'zeek', 'traces', 'pcapng-multi-interface.pcapng');

    const { code, stderr } = await leakwatch('probe', '--lab-config', lab2, pcapng);

    expect(code).toBe(0);
    expect(stderr).toContain('pcapng-multi-interface.pcapng: pcapng, 6 packets, 3 flows');
  });
});

describe('leakwatch probe --listen', () => {
  it('rejects a listen address that is not udp:// or tcp://', async () => {
    const { code, stderr } = await leakwatch(
      'probe',
      '--lab-config',
      lab2,
      '--listen',
      'http://127.0.0.1:80',
    );

    expect(code).toBe(2);
    expect(stderr).toContain('--listen "http://127.0.0.1:80" is not udp://HOST:PORT or tcp://HOST:PORT');
  });

  it('streams a pcap over TCP until SIGINT, then flushes and exits 0', async () => {
    const { spawn } = await import('node:child_process');
    const { connect } = await import('node:net');
    const { readFile } = await import('node:fs/promises');
    const child = spawn(
      process.execPath,
      [cli, 'probe', '--lab-config', lab2, '--listen', 'tcp://127.0.0.1:0'],
      {
        cwd: projectRoot,
        env: { ...process.env, NODE_OPTIONS: '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const port = await new Promise<number>((resolve) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        const match = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
        if (match) resolve(Number(match[1]));
      });
    });
    const bytes = await readFile(capture2);
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      socket.on('close', () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 300));

    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(6 + 1); // and the session-end record
    expect(stderr).toMatch(/SIGINT: stopped; 44 packets, 6 flows; 6 flow records sent/);
  });
});
