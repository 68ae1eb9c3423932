/**
 * Makes test/hostile/: inputs a device (or a broken capture tool) can produce that once crashed the
 * probe or made it emit records its own schema rejects (issue 20). Run: npx tsx scripts/make-hostile-corpus.ts
 * Each input also carries an ordinary leak (a plaintext IMEI POST) that must still arrive.
 * test/hostile/hostile.test.ts runs the installed bin on each and checks what corpus.json says.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { dnsMessage, type Host, PcapWriter, pcapngBlock } from '../scenario/pcapWriter.ts';

const OUT = join(import.meta.dirname, '..', 'test', 'hostile');
const DEVICE: Host = { mac: '02:00:00:00:00:01', ip: '10.0.0.21' };
const RESOLVER: Host = { mac: '02:00:00:00:00:53', ip: '10.0.0.1' };
const SERVER: Host = { mac: '02:00:00:00:00:fe', ip: '203.0.113.50' };
export const IMEI = '865123045678905';
const START = Date.UTC(2026, 11, 1, 9, 0, 0) * 1000;

/** The ordinary leak every input carries: an HTTP/1.0 POST of the IMEI without a Host header. */
function imeiPost(writer: PcapWriter, port: number): void {
  const body = `imei=${IMEI}&model=RedMi`;
  const request = Buffer.from(
    `POST /register HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  writer.tcpConversation(DEVICE, port, SERVER, 80, request, Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), port * 7);
}

const block = pcapngBlock;

/** An Enhanced Packet Block with a raw 64-bit timestamp. */
function epb(iface: number, high: number, low: number, frame: Buffer): Buffer {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(iface, 0);
  head.writeUInt32LE(high, 4);
  head.writeUInt32LE(low, 8);
  head.writeUInt32LE(frame.length, 12);
  head.writeUInt32LE(frame.length, 16);
  return block(6, Buffer.concat([head, frame]));
}

/** The first frame of a pcap file made by PcapWriter (after its 24-byte header and 16-byte record header). */
function firstFrame(pcap: Buffer): Buffer {
  return pcap.subarray(40, 40 + pcap.readUInt32LE(32));
}

const inputs: { file: string; what: string; expect: Record<string, unknown> }[] = [];
mkdirSync(OUT, { recursive: true });

{
  // 1. A DNS answer for a 277-character name (RFC 1035 allows 255 octets), then the IMEI POST to
  // the answered address: the name is copied onto the POST's record (names.dns).
  const writer = new PcapWriter(START);
  const name = `${['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(63), 'e'.repeat(20)].join('.')}.com`;
  writer.udp(DEVICE, 40000, RESOLVER, 53, dnsMessage(7, name));
  writer.udp(RESOLVER, 53, DEVICE, 40000, dnsMessage(7, name, { addresses: [SERVER.ip] }));
  imeiPost(writer, 40001);
  writeFileSync(join(OUT, 'dns-277-char-name.pcap'), writer.toBuffer());
  inputs.push({
    file: 'dns-277-char-name.pcap',
    what: `DNS name of ${name.length} characters answered for the server the IMEI goes to`,
    expect: { exit: 0, imei: true },
  });
}

{
  // 2. pcapng: a packet stamped 0xFFFFFFFF:FFFFFFFF µs, and one on an interface with if_tsresol=0
  // (seconds) stamped 60 × 2^32 s (both past the year 9999), around the IMEI POST.
  const writer = new PcapWriter(START);
  imeiPost(writer, 40002);
  const frame = firstFrame(writer.toBuffer());
  const tsresolSeconds = Buffer.alloc(8 + 8 + 4);
  tsresolSeconds.writeUInt16LE(1, 0); // LINKTYPE_ETHERNET
  tsresolSeconds.writeUInt32LE(65535, 4);
  tsresolSeconds.writeUInt16LE(9, 8); // if_tsresol
  tsresolSeconds.writeUInt16LE(1, 10);
  tsresolSeconds[12] = 0; // 10^0: seconds
  // opt_endofopt at 16 (zeros)
  const file = Buffer.concat([
    writer.toPcapng(),
    block(1, tsresolSeconds),
    epb(0, 0xffffffff, 0xffffffff, frame),
    epb(1, 60, 0, frame),
  ]);
  writeFileSync(join(OUT, 'pcapng-timestamps-past-9999.pcapng'), file);
  inputs.push({
    file: 'pcapng-timestamps-past-9999.pcapng',
    what: 'a packet stamped 0xFFFFFFFF:FFFFFFFF and one on an if_tsresol=0 interface stamped 60×2^32 s',
    expect: { exit: 0, imei: true, stderr: 'timestamp-out-of-range: 2' },
  });
}

{
  // 3. A TLS ClientHello whose ALPN list holds an empty name and whose SNI is 300 characters.
  const writer = new PcapWriter(START);
  const sni = `${'x'.repeat(296)}.com`;
  const ext = (type: number, data: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(data.length, 2);
    return Buffer.concat([head, data]);
  };
  const sniList = Buffer.alloc(5);
  sniList.writeUInt16BE(sni.length + 3, 0);
  sniList.writeUInt16BE(sni.length, 3);
  const alpn = Buffer.from([0, 10, 0, 8, ...Buffer.from('http/1.1')]); // "", "http/1.1"
  const extensions = Buffer.concat([ext(0, Buffer.concat([sniList, Buffer.from(sni)])), ext(16, alpn)]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 9),
    Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]),
    Buffer.from([extensions.length >> 8, extensions.length & 0xff]),
    extensions,
  ]);
  const hello = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  const record = Buffer.concat([Buffer.from([22, 3, 1, hello.length >> 8, hello.length & 0xff]), hello]);
  writer.tcpConversation(DEVICE, 40003, SERVER, 443, record, Buffer.alloc(0), 99);
  imeiPost(writer, 40004);
  writeFileSync(join(OUT, 'tls-empty-alpn-300-char-sni.pcap'), writer.toBuffer());
  inputs.push({
    file: 'tls-empty-alpn-300-char-sni.pcap',
    what: 'ClientHello with an empty ALPN name and a 300-character SNI',
    expect: { exit: 0, imei: true },
  });
}

{
  // 4. HAR: an entry lasting 1e300 ms, and one started in the year 10000.
  const entry = (started: string, time: number) => ({
    startedDateTime: started,
    time,
    request: {
      method: 'POST',
      url: 'http://203.0.113.50/register',
      httpVersion: 'HTTP/1.1',
      headers: [{ name: 'Content-Type', value: 'application/x-www-form-urlencoded' }],
      queryString: [],
      cookies: [],
      headersSize: -1,
      bodySize: 30,
      postData: { mimeType: 'application/x-www-form-urlencoded', text: `imei=${IMEI}` },
    },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: 'HTTP/1.1',
      headers: [],
      cookies: [],
      content: { size: 0, mimeType: 'text/plain' },
      redirectURL: '',
      headersSize: -1,
      bodySize: 0,
    },
    cache: {},
    timings: { send: 0, wait: 0, receive: 0 },
  });
  const har = {
    log: {
      version: '1.2',
      creator: { name: 'hostile', version: '1' },
      entries: [entry('2026-12-01T09:00:00.000Z', 1e300), entry('+010000-01-01T00:00:00.000Z', 5)],
    },
  };
  writeFileSync(join(OUT, 'har-time-1e300-year-10000.har'), `${JSON.stringify(har, null, 1)}\n`);
  inputs.push({
    file: 'har-time-1e300-year-10000.har',
    what: 'HAR entries lasting 1e300 ms and starting in the year 10000',
    expect: { exit: 0, imei: true, stderr: 'is not between 1970 and 9999' },
  });
}

{
  // 5. A 1 MB text/plain POST body of letters with the IMEI 200 KB in: the free-text scan was
  // quadratic in runs of letters (a 200 KB body took 49 s). gzip'd pcap to keep the file small.
  // (The probe keeps 256 KiB of a client stream; what lies beyond is counted as dropped.)
  const writer = new PcapWriter(START);
  const body = `${'x'.repeat(200_000)} imei ${IMEI} ${'y'.repeat(800_000)}`;
  const request = Buffer.from(
    `POST /log HTTP/1.1\r\nHost: log.example\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  writer.tcpConversation(DEVICE, 40005, SERVER, 80, request, Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), 5);
  writeFileSync(join(OUT, 'http-1mb-text-body.pcap.gz'), gzipSync(writer.toBuffer()));
  inputs.push({
    file: 'http-1mb-text-body.pcap.gz',
    what: 'a 1 MB text/plain body of letters with the IMEI 200 KB in',
    expect: { exit: 0, imei: true },
  });
}

{
  // 6. A form of 250 fields whose names and values are 500 control characters each: JSON writes
  // each as \u0001 (6 bytes), so the candidates alone would make a 1.5 MB record, over Kinesis's
  // 1 MiB (such a record aborted a run into Kinesis). The IMEI is the first field.
  const writer = new PcapWriter(START);
  const junk = '\u0001'.repeat(500);
  const fields = [`imei=${IMEI}`, ...Array.from({ length: 250 }, (_, i) => `${junk}${i}=${junk}`)];
  const body = fields.join('&');
  const request = Buffer.from(
    `POST /sync HTTP/1.1\r\nHost: sync.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    'latin1',
  );
  writer.tcpConversation(DEVICE, 40006, SERVER, 80, request, Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), 6);
  writeFileSync(join(OUT, 'http-record-over-1mib.pcap.gz'), gzipSync(writer.toBuffer()));
  inputs.push({
    file: 'http-record-over-1mib.pcap.gz',
    what: 'a form whose candidates would make a 1.5 MB record (control characters JSON-escaped)',
    expect: { exit: 0, imei: true, stdout: '"recordBytesCut":' },
  });
}

{
  // 7. 40,001 fragments of one IPv4 datagram, overlapping, never complete (each re-sorted and
  // re-copied all the earlier ones: 79 s), then the IMEI POST.
  const writer = new PcapWriter(START);
  const fragment = (offsetUnits: number, more: boolean, payload: Buffer) => {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + payload.length, 2);
    ip.writeUInt16BE(0x4242, 4);
    ip.writeUInt16BE((more ? 0x2000 : 0) | offsetUnits, 6);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from([10, 0, 0, 21]).copy(ip, 12);
    Buffer.from([203, 0, 113, 50]).copy(ip, 16);
    const ethernet = Buffer.from('020000000000fe020000000001' + '0800', 'hex');
    return Buffer.concat([
      ethernet.subarray(0, 6),
      ethernet.subarray(6, 12),
      Buffer.from([8, 0]),
      ip,
      payload,
    ]);
  };
  // The last fragment first: from then on every fragment tried to complete the datagram.
  writer.rawFrame(fragment(8000, false, Buffer.alloc(8, 1)));
  for (let i = 0; i < 40_000; i++) writer.rawFrame(fragment(i % 64, true, Buffer.alloc(8, i & 0xff)));
  imeiPost(writer, 40007);
  writeFileSync(join(OUT, 'ipv4-40001-overlapping-fragments.pcap.gz'), gzipSync(writer.toBuffer()));
  inputs.push({
    file: 'ipv4-40001-overlapping-fragments.pcap.gz',
    what: '40,001 overlapping fragments of one IPv4 datagram',
    expect: { exit: 0, imei: true, stderr: 'fragment-limit' },
  });
}

writeFileSync(join(OUT, 'corpus.json'), `${JSON.stringify({ imei: IMEI, inputs }, null, 2)}\n`);
console.log(`wrote ${inputs.length} inputs to ${OUT}`);
