/**
 * Makes the TLS decryption test captures in test/fixtures/tls/ (run: npx tsx scripts/make-tls-captures.ts).
 *
 * Every connection is a real one: node's `tls` module (OpenSSL) as client and server on loopback,
 * talking through a recording relay; the client's `keylog` event gives the NSS key log. The recorded
 * bytes are then laid out as TCP segments between a lab device and a server address (scenario/
 * tlsConversation.ts), some with small segments (records split across segments) or two segments
 * swapped. The server's test-only RSA and P-256 certificates are kept next to the captures
 * (made with openssl when missing). The outputs are random each run (TLS keys are), so the committed files are what the tests
 * and expected.json agree on; regenerate them together.
 *
 * Outputs:
 * - tls.pcap + tls.keys: one connection per case below (HTTP/1.1 and HTTP/2 over TLS 1.2 and 1.3,
 *   each AEAD suite; one cleartext HTTP/2 connection with prior knowledge), and the key log for all.
 * - tls-dsb.pcapng: the same packets with the key log in a Decryption Secrets Block.
 * - expected.json: per connection the client port, version, suite and each request's method, host,
 *   path, body length and body SHA-256 (what tshark decrypts, and what the probe must find).
 * - bad input: wrong-secrets.keys (every secret altered), truncated.keys (cut mid-line),
 *   other-connections.keys (every client random altered), tls-corrupt-record.pcap (one byte of
 *   one encrypted client record flipped), tls12-renegotiation.pcap + .keys (a TLS 1.2 client that
 *   renegotiates after its first request).
 */
import { execFileSync } from 'node:child_process';
import { constants, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { type Host, PcapWriter } from '../scenario/pcapWriter.ts';
import {
  type Chunk,
  http1Request,
  recordTcpConversation,
  recordTlsConversation,
  sendHttp1,
  sendHttp2,
  serveHttp2,
  type TlsConversationOptions,
  writeConversation,
} from '../scenario/tlsConversation.ts';

const OUT = join(import.meta.dirname, '..', 'test', 'fixtures', 'tls');
const DEVICE: Host = { mac: '02:00:00:00:00:01', ip: '10.0.0.21' };
const SERVER: Host = { mac: '02:00:00:00:00:fe', ip: '203.0.113.10' };
/** The lab device's identifiers (test/fixtures/tls/README.md): what the requests leak. */
const IMEI = '865123045678905';
const PHONE = '+8613800138000';

interface Request {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  /** HTTP/2 only: the body is sent gzip'd with Content-Encoding: gzip. */
  readonly gzip?: boolean;
  /** HTTP/2 only: more header fields (a large cookie makes CONTINUATION frames). */
  readonly headers?: Record<string, string>;
}

interface Case {
  readonly name: string;
  /** TLS versions and suites; none: cleartext (h2c with prior knowledge). */
  readonly tls?: TlsConversationOptions['tls'];
  readonly cert: 'rsa' | 'ec';
  readonly protocol?: 'http/1.1' | 'h2';
  readonly requests: readonly Request[];
  readonly mss?: number;
  readonly reorder?: boolean;
  /** HTTP/2: pad HEADERS and DATA frames (nghttp2's PADDING_STRATEGY_MAX). */
  readonly padding?: boolean;
}

/** Three HTTP/2 requests: a GET, a form POST and a gzip'd JSON POST; the repeated fields use HPACK's dynamic table. */
const h2Requests = (tag: string, extra: Partial<Request> = {}): Request[] => [
  { method: 'GET', host, path: `/pass/serviceLogin?sid=${tag}&imei=${IMEI}`, ...extra },
  {
    method: 'POST',
    host,
    path: `/api/v2/device/register?case=${tag}`,
    body: form({ imei: IMEI, phone: PHONE, carrier: 'China Mobile', case: tag }),
  },
  {
    method: 'POST',
    host,
    path: `/api/v2/contacts/sync?case=${tag}`,
    contentType: 'application/json',
    gzip: true,
    body: JSON.stringify({
      owner: PHONE,
      contacts: [{ name: 'Lab Contact', phone: '+8613912345678' }],
      case: tag,
    }),
  },
];

const host = 'api.account.xiaomi.com';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const twoRequests = (tag: string): Request[] => [
  { method: 'GET', host, path: `/pass/serviceLogin?sid=${tag}&_json=true` },
  {
    method: 'POST',
    host,
    path: `/api/v2/device/register?case=${tag}`,
    body: form({ imei: IMEI, phone: PHONE, carrier: 'China Mobile', case: tag }),
  },
];

const CASES: readonly Case[] = [
  { name: 'tls13-aes128gcm', tls: tls13('TLS_AES_128_GCM_SHA256'), cert: 'rsa', requests: twoRequests('a') },
  {
    name: 'tls13-aes256gcm-split-reordered',
    tls: tls13('TLS_AES_256_GCM_SHA384'),
    cert: 'rsa',
    requests: twoRequests('b'),
    mss: 90,
    reorder: true,
  },
  {
    name: 'tls13-chacha20',
    tls: tls13('TLS_CHACHA20_POLY1305_SHA256'),
    cert: 'ec',
    requests: twoRequests('c'),
  },
  {
    name: 'tls13-large-body',
    tls: tls13('TLS_AES_128_GCM_SHA256'),
    cert: 'rsa',
    requests: [
      {
        method: 'POST',
        host: 'data.mistat.xiaomi.com',
        path: '/mistats/v2',
        contentType: 'application/json',
        // Over 2^14 bytes: several TLS records, each in several TCP segments.
        body: JSON.stringify({
          imei: IMEI,
          events: Array.from({ length: 600 }, (_, i) => ({
            id: i,
            name: `screen_view_${i}`,
            t: 1_700_000_000 + i,
          })),
        }),
      },
    ],
  },
  {
    name: 'tls12-ecdhe-rsa-aes128gcm',
    tls: tls12('ECDHE-RSA-AES128-GCM-SHA256'),
    cert: 'rsa',
    requests: twoRequests('d'),
  },
  {
    name: 'tls12-ecdhe-rsa-aes256gcm-split',
    tls: tls12('ECDHE-RSA-AES256-GCM-SHA384'),
    cert: 'rsa',
    requests: twoRequests('e'),
    mss: 70,
    reorder: true,
  },
  {
    name: 'tls12-ecdhe-rsa-chacha20',
    tls: tls12('ECDHE-RSA-CHACHA20-POLY1305'),
    cert: 'rsa',
    requests: twoRequests('f'),
  },
  {
    name: 'tls12-ecdhe-ecdsa-aes128gcm',
    tls: tls12('ECDHE-ECDSA-AES128-GCM-SHA256'),
    cert: 'ec',
    requests: twoRequests('g'),
  },
  {
    name: 'tls12-ecdhe-ecdsa-chacha20',
    tls: tls12('ECDHE-ECDSA-CHACHA20-POLY1305'),
    cert: 'ec',
    requests: twoRequests('h'),
  },
  {
    name: 'tls12-ecdhe-rsa-aes128-cbc-sha-etm',
    tls: tls12('ECDHE-RSA-AES128-SHA'),
    cert: 'rsa',
    requests: twoRequests('m'),
  },
  {
    name: 'tls12-ecdhe-rsa-aes256-cbc-sha384-mac-then-encrypt',
    // Without encrypt-then-MAC (RFC 7366), as older stacks send CBC records.
    tls: { ...tls12('ECDHE-RSA-AES256-SHA384'), secureOptions: constants.SSL_OP_NO_ENCRYPT_THEN_MAC },
    cert: 'rsa',
    requests: twoRequests('n'),
    mss: 80,
  },
  {
    name: 'tls13-h2',
    tls: tls13('TLS_AES_128_GCM_SHA256'),
    cert: 'rsa',
    protocol: 'h2',
    requests: h2Requests('i'),
  },
  {
    name: 'tls13-h2-padded-continuation-split',
    tls: tls13('TLS_AES_256_GCM_SHA384'),
    cert: 'rsa',
    protocol: 'h2',
    // A 20 KB cookie: a header block over 16 KB is sent as HEADERS + CONTINUATION.
    requests: h2Requests('j', { headers: { cookie: `session=${'c'.repeat(20_000)}; imei=${IMEI}` } }),
    padding: true,
    mss: 200,
    reorder: true,
  },
  {
    name: 'tls12-h2-chacha20',
    tls: tls12('ECDHE-RSA-CHACHA20-POLY1305'),
    cert: 'rsa',
    protocol: 'h2',
    requests: h2Requests('k'),
  },
  { name: 'h2c-prior-knowledge', cert: 'rsa', protocol: 'h2', requests: h2Requests('l') },
];

function tls13(suite: string): TlsConversationOptions['tls'] {
  // TLS 1.3 suites are set with `ciphersuites` in OpenSSL; node takes them in `ciphers` too.
  return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: suite };
}

function tls12(suite: string): TlsConversationOptions['tls'] {
  return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: suite };
}

const requestBytes = (r: Request) => http1Request(r.method, r.host, r.path, r.body, r.contentType);
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const sha256Bytes = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** gzip output is fixed for fixed input and level: the same bytes each run. */
const wireBody = (r: Request) =>
  r.body === undefined ? undefined : r.gzip ? gzipSync(Buffer.from(r.body)) : Buffer.from(r.body);

/** An HTTP/2 request's header fields and body. */
function h2Spec(r: Request, tls: boolean) {
  const body = wireBody(r);
  return {
    headers: {
      ':method': r.method,
      ':path': r.path,
      ':authority': r.host,
      ':scheme': tls ? 'https' : 'http',
      'user-agent': 'leakwatch-test/1.0',
      ...(r.body === undefined
        ? {}
        : { 'content-type': r.contentType ?? 'application/x-www-form-urlencoded' }),
      ...(r.gzip ? { 'content-encoding': 'gzip' } : {}),
      ...(r.headers ?? {}),
    },
    ...(body ? { body } : {}),
  };
}

/**
 * The test-only certificates (RSA 2048 and P-256, self-signed): made with openssl once and kept in
 * test/fixtures/tls/ (the unit tests talk TLS with them too); they protect nothing.
 */
export function testCertificates(): Record<'rsa' | 'ec', { key: Buffer; cert: Buffer }> {
  const subject = '/CN=api.account.xiaomi.com';
  const path = (name: string) => join(OUT, name);
  const run = (args: string[]) =>
    execFileSync('openssl', args, { cwd: OUT, stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(path('test-only-rsa.key')))
    run([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'test-only-rsa.key',
      '-out',
      'test-only-rsa.crt',
      '-days',
      '36500',
      '-subj',
      subject,
    ]);
  if (!existsSync(path('test-only-ec.key'))) {
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'test-only-ec.key']);
    run([
      'req',
      '-x509',
      '-new',
      '-key',
      'test-only-ec.key',
      '-out',
      'test-only-ec.crt',
      '-days',
      '36500',
      '-subj',
      subject,
    ]);
  }
  return {
    rsa: { key: readFileSync(path('test-only-rsa.key')), cert: readFileSync(path('test-only-rsa.crt')) },
    ec: { key: readFileSync(path('test-only-ec.key')), cert: readFileSync(path('test-only-ec.crt')) },
  };
}

/** The TLS version and suite the client ended up with (to check each case is what it says). */
function negotiated(socket: TLSSocket): { version: string; suite: string } {
  return { version: socket.getProtocol() ?? '?', suite: socket.getCipher().standardName };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  {
    const certificates = testCertificates();
    const writer = new PcapWriter(Date.UTC(2026, 10, 2, 9, 0, 0) * 1000);
    const keylogs: string[] = [];
    const expected: unknown[] = [];
    const conversations: { port: number; chunks: Chunk[]; case: Case }[] = [];
    let port = 40_000;
    for (const c of CASES) {
      let seen: { version: string; suite: string } | undefined;
      const h2 = c.protocol === 'h2';
      const talk = async (socket: TLSSocket | Socket) => {
        if (h2)
          await sendHttp2(
            socket,
            `${c.tls ? 'https' : 'http'}://${host}`,
            c.requests.map((r) => h2Spec(r, !!c.tls)),
            { padding: !!c.padding },
          );
        else await sendHttp1(socket as TLSSocket, c.requests.map(requestBytes));
      };
      const { chunks, keylog } = c.tls
        ? await recordTlsConversation({
            ...certificates[c.cert],
            serverName: c.requests[0]!.host,
            tls: c.tls,
            alpn: [h2 ? 'h2' : 'http/1.1'],
            ...(h2 ? { serve: serveHttp2 } : {}),
            talk: async (socket) => {
              seen = negotiated(socket);
              if (h2 && socket.alpnProtocol !== 'h2')
                throw new Error(`${c.name}: ALPN gave ${socket.alpnProtocol}`);
              await talk(socket);
            },
          })
        : { ...(await recordTcpConversation({ serve: serveHttp2, talk })), keylog: '' };
      port += 1;
      writeConversation(writer, DEVICE, port, SERVER, c.tls ? 443 : 80, chunks, port * 7919, {
        ...(c.mss ? { mss: c.mss } : {}),
        ...(c.reorder ? { reorder: true } : {}),
      });
      writer.wait(50_000);
      keylogs.push(keylog);
      conversations.push({ port, chunks, case: c });
      expected.push({
        case: c.name,
        clientPort: port,
        protocol: c.protocol ?? 'http/1.1',
        ...(seen ? { version: seen.version.replace('TLSv', 'TLS '), suite: seen.suite } : {}),
        requests: c.requests.map((r) => ({
          method: r.method,
          host: r.host,
          path: r.path,
          bodyBytes: r.body === undefined ? 0 : Buffer.byteLength(r.body),
          ...(r.body === undefined ? {} : { bodySha256: sha256(r.body) }),
          // The body as sent on the wire (what tshark shows): gzip'd when the request says so.
          ...(r.body === undefined ? {} : { wireBodySha256: sha256Bytes(wireBody(r)!) }),
        })),
      });
      console.log(
        `${c.name}: ${seen ? `${seen.version} ${seen.suite}` : 'cleartext'}, ${chunks.length} chunks`,
      );
    }
    const keys = keylogs.join('');
    writeFileSync(join(OUT, 'tls.pcap'), writer.toBuffer());
    writeFileSync(join(OUT, 'tls.keys'), keys);
    writeFileSync(join(OUT, 'tls-dsb.pcapng'), writer.toPcapng(keys));
    writeFileSync(
      join(OUT, 'expected.json'),
      `${JSON.stringify({ imei: IMEI, phone: PHONE, connections: expected }, null, 2)}\n`,
    );

    // Bad key logs: secrets altered (keys of no connection), client randoms altered, cut mid-line.
    const lines = keys.trim().split('\n');
    const alter = (hex: string) =>
      hex.slice(0, -2) + (Number.parseInt(hex.slice(-2), 16) ^ 0xff).toString(16).padStart(2, '0');
    writeFileSync(
      join(OUT, 'wrong-secrets.keys'),
      `${lines
        .map((l) =>
          l
            .split(' ')
            .map((f, i) => (i === 2 ? alter(f) : f))
            .join(' '),
        )
        .join('\n')}\n`,
    );
    writeFileSync(
      join(OUT, 'other-connections.keys'),
      `${lines
        .map((l) =>
          l
            .split(' ')
            .map((f, i) => (i === 1 ? alter(f) : f))
            .join(' '),
        )
        .join('\n')}\n`,
    );
    writeFileSync(join(OUT, 'truncated.keys'), keys.slice(0, Math.floor(keys.length / 2)));

    // One byte of the record carrying the first TLS 1.3 connection's second request flipped (the
    // last client chunk longer than a close_notify): that record fails authentication and is
    // skipped; the first request still decrypts.
    const corrupt = new PcapWriter(Date.UTC(2026, 10, 2, 10, 0, 0) * 1000);
    const first = conversations[0]!;
    const flipped = first.chunks.map((chunk) => ({ ...chunk, data: Buffer.from(chunk.data) }));
    const lastClient = flipped.findLast(
      (chunk) => chunk.fromClient && chunk.data[0] === 23 && chunk.data.length > 60,
    )!;
    lastClient.data[lastClient.data.length - 20]! ^= 0x01;
    writeConversation(corrupt, DEVICE, first.port, SERVER, 443, flipped, 12_345);
    writeFileSync(join(OUT, 'tls-corrupt-record.pcap'), corrupt.toBuffer());

    // TLS 1.2 renegotiation: one request, the client renegotiates, then a second request.
    const reneg = await recordTlsConversation({
      ...certificates.rsa,
      serverName: host,
      tls: tls12('ECDHE-RSA-AES128-GCM-SHA256'),
      talk: async (socket) => {
        const [a, b] = twoRequests('r').map(requestBytes);
        await sendHttp1(socket, [a!]);
        await new Promise<void>((resolve, reject) =>
          socket.renegotiate({ rejectUnauthorized: false }, (error) => (error ? reject(error) : resolve())),
        );
        await sendHttp1(socket, [b!]);
      },
    });
    const renegWriter = new PcapWriter(Date.UTC(2026, 10, 2, 11, 0, 0) * 1000);
    writeConversation(renegWriter, DEVICE, 41_000, SERVER, 443, reneg.chunks, 777);
    writeFileSync(join(OUT, 'tls12-renegotiation.pcap'), renegWriter.toBuffer());
    writeFileSync(join(OUT, 'tls12-renegotiation.keys'), reneg.keylog);
    console.log(`wrote ${OUT}`);
  }
}

if (process.argv[1] === import.meta.filename) await main();
