import { gzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HTTP2_PREFACE, parseHttpRequests, startsWithHttp2Preface } from '../../probe/decode/http1.ts';
import { parseHttp2Requests } from '../../probe/decode/http2.ts';

/** An HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** A header block of literal fields without indexing, no Huffman (RFC 7541 §6.2.2), names < 127 bytes. */
function literals(fields: [string, string][]): Buffer {
  const string = (text: string) => {
    const bytes = Buffer.from(text, 'latin1');
    const length =
      bytes.length < 127 ? Buffer.from([bytes.length]) : Buffer.from([127, ...varint(bytes.length - 127)]);
    return Buffer.concat([length, bytes]);
  };
  return Buffer.concat(
    fields.map(([name, value]) => Buffer.concat([Buffer.from([0]), string(name), string(value)])),
  );
}
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));
const request = (path: string, extra: [string, string][] = []): [string, string][] => [
  [':method', 'POST'],
  [':scheme', 'https'],
  [':authority', 'api.account.xiaomi.com:443'],
  [':path', path],
  ['user-agent', 'miui/5'],
  ...extra,
];

describe('HTTP/2 requests from a client stream (RFC 9113)', () => {
  it('reads HEADERS with padding and priority, CONTINUATION, padded DATA and a gzip body, per stream, in the order opened', () => {
    const block = literals(request('/a?imei=865123045678905', [['content-encoding', 'gzip']]));
    const padded = (payload: Buffer, pad: number) =>
      Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(pad)]);
    const body = gzipSync('imei=865123045678905&phone=%2B8613800138000');
    const stream = Buffer.concat([
      HTTP2_PREFACE,
      SETTINGS,
      // Stream 1: HEADERS (PADDED|PRIORITY, no END_HEADERS) + CONTINUATION (END_HEADERS), then DATA.
      frame(1, 0x08 | 0x20, 1, padded(Buffer.concat([Buffer.alloc(5), block.subarray(0, 10)]), 7)),
      frame(9, 0x04, 1, block.subarray(10)),
      // Stream 3 opens while 1 is still sending its body.
      frame(
        1,
        0x04 | 0x01,
        3,
        literals([
          [':method', 'GET'],
          [':path', '/b'],
          [':authority', 'h.example'],
        ]),
      ),
      frame(0, 0x08, 1, padded(body.subarray(0, 5), 3)),
      frame(8, 0, 0, Buffer.from([0, 0, 0x10, 0])), // WINDOW_UPDATE: nothing to read
      frame(0, 0x01, 1, body.subarray(5)),
    ]);
    const { requests, problem, unparsedBytes } = parseHttp2Requests(stream, 50);
    expect(problem).toBeUndefined();
    expect(unparsedBytes).toBe(0);
    expect(requests.map((r) => [r.method, r.target, r.version])).toEqual([
      ['POST', '/a?imei=865123045678905', 'HTTP/2'],
      ['GET', '/b', 'HTTP/2'],
    ]);
    expect(requests[0]!.headers[0]).toEqual(['host', 'api.account.xiaomi.com:443']);
    expect(requests[0]!.body.toString()).toBe('imei=865123045678905&phone=%2B8613800138000');
    expect(requests[0]!.bodyCodings).toEqual(['gzip']);
    expect(requests[0]!.bodyTruncated).toBe(false);
    expect(requests[1]!.headers).toEqual([['host', 'h.example']]);
  });

  it('says why it stopped: a header block interrupted by another frame, CONTINUATION without HEADERS, padding past the frame', () => {
    const block = literals(request('/x'));
    const interrupted = Buffer.concat([HTTP2_PREFACE, frame(1, 0, 1, block.subarray(0, 4)), SETTINGS]);
    expect(parseHttp2Requests(interrupted, 50).problem).toMatch(/interrupted/);
    const orphan = Buffer.concat([HTTP2_PREFACE, frame(9, 0x04, 1, block)]);
    expect(parseHttp2Requests(orphan, 50).problem).toMatch(/CONTINUATION without/);
    const overPadded = Buffer.concat([HTTP2_PREFACE, frame(1, 0x04 | 0x08, 1, Buffer.from([200, 1, 2]))]);
    expect(parseHttp2Requests(overPadded, 50).problem).toMatch(/padding/);
    const badHpack = Buffer.concat([HTTP2_PREFACE, frame(1, 0x04, 1, Buffer.from([0x80]))]);
    expect(parseHttp2Requests(badHpack, 50).problem).toMatch(/^HPACK: /);
  });

  it('keeps what came before a cut: the request is there, its body marked truncated', () => {
    const whole = Buffer.concat([
      HTTP2_PREFACE,
      frame(1, 0x04, 1, literals(request('/cut'))),
      frame(0, 0, 1, Buffer.from('imei=865123045678905')),
      frame(0, 0x01, 1, Buffer.from('&more=1')),
    ]);
    const { requests, unparsedBytes } = parseHttp2Requests(whole.subarray(0, whole.length - 3), 50);
    expect(unparsedBytes).toBe(9 + 7 - 3);
    expect(requests[0]!.body.toString()).toBe('imei=865123045678905');
    expect(requests[0]!.bodyTruncated).toBe(true);
  });

  it('HTTP/1 parsing stops at the preface (h2c upgrade): the request before it, then HTTP/2', () => {
    const upgrade = Buffer.from(
      'GET / HTTP/1.1\r\nHost: h.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
    );
    const stream = Buffer.concat([
      upgrade,
      HTTP2_PREFACE,
      SETTINGS,
      frame(1, 0x05, 3, literals(request('/after'))),
    ]);
    const h1 = parseHttpRequests(stream, 50);
    expect(h1.requests.map((r) => r.target)).toEqual(['/']);
    const rest = stream.subarray(stream.length - h1.unparsedBytes);
    expect(startsWithHttp2Preface(rest)).toBe(true);
    expect(parseHttp2Requests(rest, 50).requests.map((r) => r.target)).toEqual(['/after']);
  });

  it('on any frames after the preface, returns requests or a problem, never throws, within the body limit (property)', () => {
    const arbitraryFrame = fc
      .record({
        type: fc.constantFrom(0, 1, 4, 8, 9, 0xff),
        flags: fc.integer({ min: 0, max: 255 }),
        stream: fc.constantFrom(0, 1, 3, 5, 0x7fffffff),
        payload: fc.uint8Array({ maxLength: 80 }),
      })
      .map(({ type, flags, stream, payload }) => frame(type, flags, stream, Buffer.from(payload)));
    fc.assert(
      fc.property(fc.array(arbitraryFrame, { maxLength: 12 }), fc.nat(64), (frames, cut) => {
        const stream = Buffer.concat([HTTP2_PREFACE, ...frames]);
        const parsed = parseHttp2Requests(
          stream.subarray(0, Math.max(HTTP2_PREFACE.length, stream.length - cut)),
          50,
        );
        expect(parsed.requests.length).toBeLessThanOrEqual(50);
        for (const r of parsed.requests) expect(r.body.length).toBeLessThanOrEqual(stream.length);
      }),
      { numRuns: 2000, seed: 20261202 },
    );
  });
});
