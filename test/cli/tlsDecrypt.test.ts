import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type FlowRecord, FlowRecordSchema } from '../../schema/flowRecord.ts';
import { leakwatch } from '../helpers/installedCli.ts';
import { projectRoot } from '../helpers/scenario.ts';

/**
 * `leakwatch probe --keylog` as installed, on captures of real TLS connections (node's tls and
 * http2, test/fixtures/tls/README.md): what it decrypts must be what the generator sent
 * (expected.json) and what tshark decrypts from the same files with the same keys.
 */
const TLS = join(projectRoot, 'test', 'fixtures', 'tls');
const fixture = (name: string) => join('test', 'fixtures', 'tls', name);
const LAB = ['--lab-config', 'scenario/lab/build-1.json'];

interface ExpectedRequest {
  method: string;
  host: string;
  path: string;
  bodyBytes: number;
  bodySha256?: string;
  wireBodySha256?: string;
}
interface ExpectedConnection {
  case: string;
  clientPort: number;
  protocol: 'http/1.1' | 'h2';
  version?: string;
  suite?: string;
  requests: ExpectedRequest[];
}
const expected: { imei: string; phone: string; connections: ExpectedConnection[] } = JSON.parse(
  readFileSync(join(TLS, 'expected.json'), 'utf8'),
);
const encrypted = expected.connections.filter((c) => c.version);
/** Secrets the probe keeps from tls.keys (TLS 1.3 exporter secrets are not needed). */
const keptSecrets = readFileSync(join(TLS, 'tls.keys'), 'latin1')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('EXPORTER_SECRET')).length;

async function probe(args: string[]) {
  const result = await leakwatch(['probe', ...LAB, ...args], { timeoutMs: 60_000 });
  const records = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FlowRecord & { kind?: string })
    .filter((record) => record.kind === undefined);
  return { ...result, records };
}

const byPort = (records: FlowRecord[], port: number) => records.find((r) => r.flow.client?.port === port);
/** A record's content, without what names the run or the capture file. */
const content = (r: FlowRecord) => JSON.stringify({ ...r, probe: { ...r.probe, run: '', capture: '' } });
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Every secret in a key log (the third field of each line), to check none is ever printed. */
const secretsOf = (file: string) =>
  readFileSync(join(TLS, file), 'latin1')
    .split('\n')
    .map((line) => line.split(' ')[2])
    .filter((secret): secret is string => !!secret && secret.length >= 64);

describe('leakwatch probe --keylog (installed)', () => {
  it('decrypts every TLS 1.2 and 1.3 connection and finds the requests the device sent, HTTP/1.1 and HTTP/2', async () => {
    const { code, stderr, stdout, records } = await probe([
      '--keylog',
      fixture('tls.keys'),
      fixture('tls.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain(`key logs: ${keptSecrets} secrets for ${encrypted.length} connections`);
    expect(stderr).toContain(
      `TLS flows without keys: 0 of ${encrypted.length}, decrypted ${encrypted.length}\n`,
    );
    expect(records).toHaveLength(expected.connections.length);
    for (const record of records) expect(FlowRecordSchema.safeParse(record).error).toBeUndefined();
    for (const connection of expected.connections) {
      const record = byPort(records, connection.clientPort);
      expect(record).toBeDefined();
      if (connection.version) {
        expect(record!.transport).toBe('tls');
        expect(record!.tls).toMatchObject({
          decrypted: true,
          suite: connection.suite,
          version: connection.version,
        });
      } else expect(record!.transport).toBe('plaintext'); // h2c with prior knowledge
      expect(record!.application).toBe('http');
      expect(
        record!.http!.map((h) => ({
          method: h.method,
          host: h.host,
          path: h.target,
          bodyBytes: h.bodyBytes,
        })),
      ).toEqual(
        connection.requests.map(({ method, host, path, bodyBytes }) => ({ method, host, path, bodyBytes })),
      );
      // The leak inside: the IMEI and the phone number the requests carried are candidates.
      const values = record!.candidates.map((c) => c.value);
      expect(values).toContain(expected.imei);
      if (connection.requests.some((r) => r.method === 'POST' && r.path.includes('register')))
        expect(values).toContain(expected.phone);
    }
    // Key material never leaves the probe.
    for (const secret of secretsOf('tls.keys')) {
      expect(stdout).not.toContain(secret);
      expect(stderr).not.toContain(secret);
    }
  });

  it('reads the keys from a pcapng Decryption Secrets Block: the same records, with 1 and 2 threads', async () => {
    const withKeyLog = await probe(['--keylog', fixture('tls.keys'), fixture('tls.pcap')]);
    for (const threads of ['1', '2']) {
      const { code, stderr, records } = await probe(['--threads', threads, fixture('tls-dsb.pcapng')]);
      expect(code).toBe(0);
      expect(stderr).toContain(
        `TLS flows without keys: 0 of ${encrypted.length}, decrypted ${encrypted.length}`,
      );
      expect(stderr).toContain(
        `1 TLS secrets block read (key material of the run: ${keptSecrets} secrets for ${encrypted.length} connections)`,
      );
      expect(records.map(content)).toEqual(
        withKeyLog.records.map((r) => content({ ...r, probe: { ...r.probe, input: 'pcapng' } })),
      );
    }
  });

  it("reads the secrets block Wireshark's editcap --inject-secrets writes (an independent pcapng writer)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-editcap-'));
    try {
      const out = join(dir, 'injected.pcapng');
      const made = spawnSync(
        'editcap',
        ['--inject-secrets', `tls,${join(TLS, 'tls.keys')}`, join(TLS, 'tls.pcap'), out],
        {
          encoding: 'utf8',
        },
      );
      if (made.error)
        throw new Error(
          'editcap is not installed: .ci/run installs tshark, which brings it (wireshark-common)',
        );
      expect(made.status).toBe(0);
      const withKeyLog = await probe(['--keylog', fixture('tls.keys'), fixture('tls.pcap')]);
      const { code, stderr, records } = await probe([out]);
      expect(code).toBe(0);
      expect(stderr).toContain(
        `TLS flows without keys: 0 of ${encrypted.length}, decrypted ${encrypted.length}`,
      );
      expect(records.map(content)).toEqual(
        withKeyLog.records.map((r) => content({ ...r, probe: { ...r.probe, input: 'pcapng' } })),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without keys: TLS flows keep their handshake metadata only, and nothing is said about keys', async () => {
    const { code, stderr, records } = await probe([fixture('tls.pcap')]);
    expect(code).toBe(0);
    expect(stderr).not.toContain('TLS flows without keys');
    for (const connection of encrypted) {
      const record = byPort(records, connection.clientPort)!;
      expect(record.application).toBe('tls');
      expect(record.tls?.decrypted).toBeUndefined();
      expect(record.http).toBeUndefined();
      expect(record.candidates.map((c) => c.value)).not.toContain(expected.imei);
    }
  });

  it('agrees with tshark: the same requests, with the bodies the device sent', async () => {
    const tshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' });
    if (tshark.error)
      throw new Error(
        'tshark is not installed: .ci/run installs it (apt-get install tshark); this test needs it',
      );
    const seen = tsharkRequests(join(TLS, 'tls.pcap'), join(TLS, 'tls.keys'));
    const want = expected.connections.flatMap((c) =>
      c.requests.map((r) => `${c.clientPort} ${r.method} ${r.host} ${r.path} ${r.bodySha256 ?? sha256('')}`),
    );
    expect(seen.sort()).toEqual(want.sort());
    // And the probe found the same requests (method, host, path; body lengths checked above).
    const { records } = await probe(['--keylog', fixture('tls.keys'), fixture('tls.pcap')]);
    const probed = records.flatMap((r) =>
      (r.http ?? []).map((h) => `${r.flow.client?.port} ${h.method} ${h.host} ${h.target}`),
    );
    expect(probed.sort()).toEqual(seen.map((line) => line.split(' ').slice(0, 4).join(' ')).sort());
  });
});

describe('leakwatch check --keylog (installed): the rules see inside TLS', () => {
  it('flags the IMEI sent without opt-in over TLS only when the keys open it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-tls-check-'));
    try {
      const args = ['--lab-config', 'scenario/lab/build-1.json', fixture('tls.pcap')];
      const withKeys = await leakwatch(
        ['check', '--data-dir', join(dataDir, 'a'), '--keylog', fixture('tls.keys'), ...args],
        {
          timeoutMs: 120_000,
        },
      );
      expect(withKeys.code).toBe(1);
      expect(withKeys.stdout + withKeys.stderr).toMatch(
        /FAIL sent-without-consent \(high\): IMEI → data\.mistat\.xiaomi\.com \[TLS 1\.3 decrypted \(TLS_AES_128_GCM_SHA256\)\]/,
      );
      const withoutKeys = await leakwatch(['check', '--data-dir', join(dataDir, 'b'), ...args], {
        timeoutMs: 120_000,
      });
      // The cleartext HTTP/2 flow still fails the build; nothing inside TLS is seen.
      expect(withoutKeys.stdout + withoutKeys.stderr).toContain('FAIL plaintext-begins');
      expect(withoutKeys.stdout + withoutKeys.stderr).not.toContain('data.mistat.xiaomi.com [');
      expect(withoutKeys.stdout + withoutKeys.stderr).not.toContain('decrypted');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('leakwatch probe --keylog on bad input (installed)', () => {
  it('keys that open nothing (every secret altered): counted per flow and per record, no request invented', async () => {
    const { code, stderr, stdout, records } = await probe([
      '--keylog',
      fixture('wrong-secrets.keys'),
      fixture('tls.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain(
      `TLS flows without keys: 0 of ${encrypted.length}, decrypted 0, with keys but not decrypted: authentication-failed ${encrypted.length}; records skipped: authentication-failed `,
    );
    for (const c of encrypted) expect(byPort(records, c.clientPort)!.tls?.decrypted).toBeUndefined();
    for (const secret of secretsOf('wrong-secrets.keys')) {
      expect(stdout).not.toContain(secret);
      expect(stderr).not.toContain(secret);
    }
  });

  it('keys for other connections: every TLS flow is counted as without keys', async () => {
    const { code, stderr } = await probe([
      '--keylog',
      fixture('other-connections.keys'),
      fixture('tls.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain(
      `TLS flows without keys: ${encrypted.length} of ${encrypted.length}, decrypted 0\n`,
    );
  });

  it('a key log cut mid-line: the cut line is reported by number, the whole lines still decrypt', async () => {
    const { code, stderr, records } = await probe([
      '--keylog',
      fixture('truncated.keys'),
      fixture('tls.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toMatch(
      /1 line skipped \(test\/fixtures\/tls\/truncated\.keys line \d+: expected 3 fields/,
    );
    const decrypted = records.filter((r) => r.tls?.decrypted).length;
    expect(decrypted).toBeGreaterThan(0);
    expect(decrypted).toBeLessThan(encrypted.length);
    expect(stderr).toContain(`decrypted ${decrypted}`);
  });

  it('a corrupted record: skipped and counted, the request before it still found', async () => {
    const first = expected.connections[0]!;
    const { code, stderr, records } = await probe([
      '--keylog',
      fixture('tls.keys'),
      fixture('tls-corrupt-record.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain('decrypted 1; records skipped: authentication-failed 1');
    expect(records[0]!.http!.map((h) => h.target)).toEqual([first.requests[0]!.path]);
  });

  it('TLS 1.2 renegotiation: what came before is decrypted, the rest counted', async () => {
    const { code, stderr, records } = await probe([
      '--keylog',
      fixture('tls12-renegotiation.keys'),
      fixture('tls12-renegotiation.pcap'),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain('decrypted 1; records skipped: renegotiation 1');
    expect(records[0]!.http).toHaveLength(1);
  });

  it('refuses a missing key log, a capture given as a key log, and --keylog with live input (exit 2)', async () => {
    const missing = await probe(['--keylog', 'no-such.keys', fixture('tls.pcap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read key log no-such.keys: no such file');
    const capture = await probe(['--keylog', fixture('tls.pcap'), fixture('tls.pcap')]);
    expect(capture.code).toBe(2);
    expect(capture.stderr).toMatch(
      /key log test\/fixtures\/tls\/tls\.pcap: not one usable line of the NSS key log format .* the first: line 1:/,
    );
    const live = await probe(['--keylog', fixture('tls.keys'), '--listen', 'udp://127.0.0.1:0']);
    expect(live.code).toBe(2);
    expect(live.stderr).toContain('--keylog is for capture files');
  });
});

/**
 * The client requests tshark decrypts, as `port method host path sha256(body)`: HTTP/1.x from
 * http.request, HTTP/2 from the client's HEADERS and DATA frames (one per packet in these captures).
 * tshark 4.0 includes a padded DATA frame's padding in http2.data.data (see below). Out-of-order
 * reassembly is on, as the captures need.
 */
function tsharkRequests(capture: string, keys: string): string[] {
  const run = (filter: string, fields: string[]) => {
    const result = spawnSync(
      'tshark',
      [
        '-r',
        capture,
        '-o',
        `tls.keylog_file:${keys}`,
        '-o',
        'tcp.reassemble_out_of_order:TRUE',
        '-Y',
        filter,
        '-T',
        'fields',
        '-E',
        'separator=\t',
        ...fields.flatMap((field) => ['-e', field]),
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    if (result.status !== 0) throw new Error(`tshark failed: ${result.stderr}`);
    return result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\t'));
  };
  const fromClient = 'tcp.srcport >= 40000';
  const requests: string[] = [];
  for (const [port, method, host, uri, body] of run(`http.request && ${fromClient}`, [
    'tcp.srcport',
    'http.request.method',
    'http.host',
    'http.request.uri',
    'http.file_data',
  ]))
    requests.push(`${port} ${method} ${host} ${uri} ${sha256(Buffer.from(body ?? '', 'utf8'))}`);
  // HTTP/2: a stream's header fields, then its DATA.
  const streams = new Map<string, { head: string; body: Buffer[] }>();
  for (const [port, types, ids, method, authority, path] of run(`http2.type == 1 && ${fromClient}`, [
    'tcp.srcport',
    'http2.type',
    'http2.streamid',
    'http2.headers.method',
    'http2.headers.authority',
    'http2.headers.path',
  ])) {
    const typeList = types!.split(',');
    const id = ids!.split(',')[typeList.indexOf('1')];
    streams.set(`${port}/${id}`, { head: `${port} ${method} ${authority} ${path}`, body: [] });
  }
  for (const [port, types, ids, data, padding] of run(`http2.type == 0 && ${fromClient}`, [
    'tcp.srcport',
    'http2.type',
    'http2.streamid',
    'http2.data.data',
    'http2.data.padding',
  ])) {
    const typeList = types!.split(',');
    const idList = ids!.split(',');
    const dataList = data ? data.split(',') : [];
    const paddingList = padding ? padding.split(',') : [];
    const dataIds = idList.filter((_, i) => typeList[i] === '0');
    if (
      dataIds.length !== dataList.length ||
      (paddingList.length > 0 && paddingList.length !== dataList.length)
    )
      throw new Error(`tshark fields do not line up for port ${port}: ${types} / ${ids}`);
    dataIds.forEach((id, i) => {
      let bytes = Buffer.from(dataList[i]!, 'hex');
      // tshark 4.0 leaves a padded frame's padding in http2.data.data, but not in the body it shows
      // decompressed (Content-Encoding): cut it where the data ends with it.
      const pad = Buffer.from(paddingList[i] ?? '', 'hex');
      if (
        pad.length > 0 &&
        bytes.length >= pad.length &&
        bytes.subarray(bytes.length - pad.length).equals(pad)
      )
        bytes = bytes.subarray(0, bytes.length - pad.length);
      streams.get(`${port}/${id}`)?.body.push(bytes);
    });
  }
  for (const { head, body } of streams.values()) requests.push(`${head} ${sha256(Buffer.concat(body))}`);
  return requests;
}
