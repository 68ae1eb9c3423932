import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { extractCandidates } from '../../probe/candidates.ts';
import { decodeDns } from '../../probe/decode/dns.ts';
import { parseHttpRequests } from '../../probe/decode/http1.ts';
import { parseQuicLongHeader } from '../../probe/decode/quic.ts';
import { parseClientHello, parseServerHelloVersion } from '../../probe/decode/tls.ts';
import { CaptureFormatError } from '../../probe/errors.ts';
import { readHar } from '../../probe/har/readHar.ts';
import { runProbe } from '../../probe/runProbe.ts';
import { TlsKeyLog } from '../../probe/tls/keyLog.ts';
import { dnsMessage, tlsClientHello } from '../../scenario/pcapWriter.ts';
import { FlowRecordSchema } from '../../schema/flowRecord.ts';
import { fixturesDir, TEST_CONTEXT } from '../helpers/fixtures.ts';
import { chunksOf, projectRoot } from '../helpers/scenario.ts';

/**
 * Property: whatever bytes a capture holds, the probe either reads it (skipping what it cannot
 * decode) or rejects the whole file with a CaptureFormatError; it never throws anything else,
 * never hangs, and every record it makes is schema-valid. A hang fails by jest's test timeout; no
 * case is timed (a per-case clock failed on a loaded CI machine: speed is the benchmarks' business).
 */
const seeds = [
  join(projectRoot, 'scenario', 'captures', 'build-2.pcap'),
  join(fixturesDir, 'zeek', 'traces', 'http', 'pipelined-requests.pcap'),
  join(fixturesDir, 'zeek', 'traces', 'pcapng-multi-interface.pcapng'),
  join(fixturesDir, 'zeek', 'traces', 'ipv6-fragmented-dns.pcap'),
  join(fixturesDir, 'suricata-verify', 'tests', 'community-id-ipv6', 'input.pcap'),
  join(fixturesDir, 'zeek', 'traces', 'tls', 'tls13-ech.pcap'),
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(original: Buffer, mutations: Mutation[]): Buffer {
  let bytes = Buffer.from(original);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.kind === 'flip') bytes[at] = m.value;
    else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert')
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
    else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
  }
  return bytes;
}

describe('decoder robustness (property-based)', () => {
  it('never throws anything but CaptureFormatError, never hangs, and emits only valid records', async () => {
    const originals = await Promise.all(seeds.map((path) => readFile(path)));

    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: originals.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4096 }),
        async (which, mutations, chunkSize) => {
          const bytes = mutate(originals[which]!, mutations);
          try {
            await runProbe(chunksOf(bytes, chunkSize), 'mutated', TEST_CONTEXT, async (record) => {
              const parsed = FlowRecordSchema.safeParse(record);
              if (!parsed.success)
                throw new Error(
                  `invalid record: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
                );
            });
          } catch (error) {
            if (!(error instanceof CaptureFormatError)) throw error;
          }
        },
      ),
      { numRuns: 300, seed: 20261121 },
    );
  }, 300_000);

  it('TLS with keys (key log, secrets block), HTTP/2 and h2c: the same holds for mutated captures', async () => {
    const tls = join(fixturesDir, 'tls');
    const originals = await Promise.all([
      readFile(join(tls, 'tls.pcap')),
      readFile(join(tls, 'tls-dsb.pcapng')),
    ]);
    const keys = await readFile(join(tls, 'tls.keys'), 'latin1');
    let decrypted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        async (which, mutations) => {
          const keyLog = new TlsKeyLog();
          if (which === 0) keyLog.addText(keys, 'tls.keys');
          try {
            const stats = await runProbe(
              chunksOf(mutate(originals[which]!, mutations), 64 * 1024),
              'mutated',
              TEST_CONTEXT,
              async (record) => {
                const parsed = FlowRecordSchema.safeParse(record);
                if (!parsed.success)
                  throw new Error(
                    `invalid record: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
                  );
              },
              { keyLog },
            );
            decrypted += stats.tls?.decrypted ?? 0;
          } catch (error) {
            if (!(error instanceof CaptureFormatError)) throw error;
          }
        },
      ),
      { numRuns: 150, seed: 20261202 },
    );
    // Many mutations leave connections whole (a cut or damaged header ends others): the property ran on decrypted content.
    expect(decrypted).toBeGreaterThan(150);
  });

  it('HAR input: random JSON-ish text is read or rejected with CaptureFormatError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify({ log: { entries: [v, v] } })),
        ),
        (text) => {
          try {
            const result = readHar(text, 'random.har', TEST_CONTEXT);
            for (const record of result.records)
              expect(FlowRecordSchema.safeParse(record).success).toBe(true);
          } catch (error) {
            if (!(error instanceof CaptureFormatError)) throw error;
          }
        },
      ),
      { numRuns: 500, seed: 20261121 },
    );
  });
});

describe('protocol decoders on mutated messages (property-based)', () => {
  const serverHello = Buffer.from(
    '160303005a0200005603035f1c2d3e4f5a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405' +
      '20e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff130100000e002b00020304' +
      '0033000400170000',
    'hex',
  );
  const messages = {
    clientHello: tlsClientHello('api.account.xiaomi.com', Buffer.alloc(32, 7)),
    serverHello,
    dns: dnsMessage(7, 'update.miui.com', {
      cname: 'cdn.example.net',
      addresses: ['203.0.113.1', '203.0.113.2'],
    }),
    http: Buffer.from(
      'POST /a?imei=490154203237518 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n' +
        '10\r\n{"a":{"b":[1,2]}\r\n0\r\n\r\nGET /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc',
    ),
    quic: Buffer.from(
      'c300000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399',
      'hex',
    ),
  };
  const decoders: Record<keyof typeof messages, (bytes: Buffer) => unknown> = {
    clientHello: parseClientHello,
    serverHello: parseServerHelloVersion,
    dns: decodeDns,
    http: (bytes) => {
      for (const [index, request] of parseHttpRequests(bytes, 8).requests.entries())
        extractCandidates(request, index, 256);
    },
    quic: parseQuicLongHeader,
  };

  it.each(Object.keys(messages) as (keyof typeof messages)[])(
    '%s: any mutation is decoded or declined, never thrown',
    (name) => {
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
          decoders[name](mutate(messages[name], mutations));
        }),
        { numRuns: 2000, seed: 20261121 },
      );
    },
  );
});

describe('classification of arbitrary values (property-based)', () => {
  it('never throws and stays within its limits, whatever the values and keys', async () => {
    const { classifyCandidates } = await import('../../core/classify/classifyCandidates.ts');
    const { gzipSync } = await import('node:zlib');
    const value = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')), // invalid UTF-8 inside base64
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('hex')),
      fc.jsonValue({ maxDepth: 30 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 100 }).map((s) => gzipSync(s).toString('base64')),
      fc
        .uint8Array({ minLength: 2, maxLength: 100 })
        .map((b) => Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from(b)]).toString('base64')),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.string({ maxLength: 30 }), value }), { maxLength: 20 }),
        (pairs) => {
          const result = classifyCandidates(
            pairs.map((p) => ({
              request: 0,
              location: 'json' as const,
              key: p.key,
              value: p.value.slice(0, 512),
              shape: 'text' as const,
            })),
            { region: 'CN' },
          );
          for (const finding of result.findings)
            expect(finding.masked).not.toContain(finding.digest ?? '\u0000');
        },
      ),
      { numRuns: 300, seed: 20261121 },
    );
  });
});
