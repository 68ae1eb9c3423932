import { gzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { decodeDns } from '../../probe/decode/dns.ts';
import { parseHttpRequests } from '../../probe/decode/http1.ts';
import { parseClientHello } from '../../probe/decode/tls.ts';
import { dnsMessage, tlsClientHello } from '../../scenario/pcapWriter.ts';

describe('decodeDns', () => {
  it('reads a query', () => {
    const message = decodeDns(dnsMessage(7, 'api.account.xiaomi.com'));

    expect(message).toEqual({
      id: 7,
      isResponse: false,
      queries: [{ name: 'api.account.xiaomi.com', type: 'A' }],
      answers: [],
    });
  });

  it('follows compression pointers through a CNAME chain', () => {
    const bytes = dnsMessage(9, 'update.miui.com', {
      cname: 'update.miui.com.cdn.example.net',
      addresses: ['203.0.113.20', '203.0.113.21'],
    });

    const message = decodeDns(bytes);

    expect(message?.isResponse).toBe(true);
    expect(message?.answers).toEqual([
      { name: 'update.miui.com', type: 'CNAME', value: 'update.miui.com.cdn.example.net', ttl: 300 },
      { name: 'update.miui.com.cdn.example.net', type: 'A', value: '203.0.113.20', ttl: 300 },
      { name: 'update.miui.com.cdn.example.net', type: 'A', value: '203.0.113.21', ttl: 300 },
    ]);
  });

  it('returns null for a pointer loop and for truncated messages', () => {
    const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const full = dnsMessage(3, 'example.com', { addresses: ['192.0.2.1'] });

    expect(decodeDns(loop)).toBeNull();
    for (let cut = 0; cut < full.length; cut++) expect(decodeDns(full.subarray(0, cut))).toBeNull();
  });
});

describe('parseClientHello', () => {
  it('reads SNI, ALPN and the highest supported version', () => {
    const hello = parseClientHello(tlsClientHello('api.account.xiaomi.com', Buffer.alloc(32, 1)));

    expect(hello).toEqual({
      sni: 'api.account.xiaomi.com',
      alpn: ['http/1.1'],
      version: 'TLS 1.3',
      ech: false,
    });
  });

  it('returns null when the hello is cut short or is not TLS', () => {
    const bytes = tlsClientHello('example.com', Buffer.alloc(32));

    expect(parseClientHello(bytes.subarray(0, 30))).toBeNull();
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeNull();
  });
});

describe('parseHttpRequests', () => {
  it('reads pipelined requests with Content-Length and chunked bodies', () => {
    const stream = Buffer.from(
      'POST /a HTTP/1.1\r\nHost: x.example\r\nContent-Length: 5\r\n\r\nhello' +
        'POST /b HTTP/1.1\r\nHost: x.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n' +
        'GET /c?q=1 HTTP/1.0\r\n\r\n',
    );

    const { requests, unparsedBytes } = parseHttpRequests(stream, 10);

    expect(requests.map((r) => [r.method, r.target, r.body.toString(), r.bodyTruncated])).toEqual([
      ['POST', '/a', 'hello', false],
      ['POST', '/b', 'abcde', false],
      ['GET', '/c?q=1', '', false],
    ]);
    expect(unparsedBytes).toBe(0);
  });

  it('decompresses a gzip body and flags a body cut by the stream end', () => {
    const body = gzipSync(Buffer.from('imei=864690020123454'));
    const gz = Buffer.concat([
      Buffer.from(`POST /g HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`),
      body,
    ]);
    const cut = Buffer.from('POST /t HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly this');

    expect(parseHttpRequests(gz, 10).requests[0]?.body.toString()).toBe('imei=864690020123454');
    expect(parseHttpRequests(cut, 10).requests[0]).toMatchObject({ bodyTruncated: true });
  });

  it('stops at bytes that are not HTTP', () => {
    const { requests, unparsedBytes } = parseHttpRequests(
      Buffer.from('GET / HTTP/1.1\r\n\r\n\x16\x03\x01garbage'),
      10,
    );

    expect(requests).toHaveLength(1);
    expect(unparsedBytes).toBe(10);
  });
});
