import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  dnsMessage,
  ethernetIpv4Frame,
  type Host,
  tcpSegmentBytes,
  tlsClientHello,
  udpDatagram,
} from '../scenario/pcapWriter.ts';
import { benchArgs } from './args.ts';

/**
 * Writes a large, realistic-shaped classic pcap for the probe benchmark: many concurrent flows
 * (interleaved packet by packet, as on a busy lab network). Deterministic. Two shapes:
 *
 * - `mixed` (default): DNS lookups, TLS sessions (ClientHello with SNI, 4–34 KB of server data) and
 *   plaintext HTTP POSTs with form bodies carrying identifiers and 2–14 KB responses; ~19k flows
 *   in 200 MB, the probe's cost is per byte there.
 * - `short`: many short flows, where the probe's cost is per flow. Per lab device in turn a DNS
 *   query and answer, an HTTP POST with a form body and a one-segment response (handshake, FIN
 *   both ways), and a TLS ClientHello with one segment of server bytes (closed by FIN both ways
 *   or by a client RST): ~4.5 packets per flow, ~180k flows in 200 MB.
 *
 * Usage: tsx bench/generateCapture.ts --out FILE [--megabytes 200] [--shape mixed|short]
 */
const { values } = benchArgs('bench:generate', {
  out: { type: 'string' },
  megabytes: { type: 'string', default: '200' },
  concurrency: { type: 'string', default: '256' },
  shape: { type: 'string', default: 'mixed' },
});
if (!values.out || (values.shape !== 'mixed' && values.shape !== 'short')) {
  console.error(
    'usage: tsx bench/generateCapture.ts --out FILE [--megabytes 200] [--concurrency 256] [--shape mixed|short]',
  );
  process.exit(2);
}
const shape = values.shape;
const targetBytes = Number(values.megabytes) * 1024 * 1024;
const concurrency = Number(values.concurrency);

let seed = 42;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
const HOSTS = [
  'api.account.xiaomi.com',
  'update.miui.com',
  'data.mistat.xiaomi.com',
  'tracking.miui.com',
  'resolver.msg.xiaomi.net',
  'connectivitycheck.gstatic.com',
  'api.example-analytics.com',
  'cdn.example.net',
];
const gatewayMac = '28:6c:07:aa:bb:cc';

/** A packet to write: frame bytes, built lazily when its turn comes. */
type Step = () => Buffer;

let ipId = 1;
const tcp = (
  from: Host,
  fromPort: number,
  to: Host,
  toPort: number,
  seq: number,
  ack: number,
  flags: number,
  payload?: Buffer,
) =>
  ethernetIpv4Frame(
    from,
    to,
    6,
    tcpSegmentBytes(from, fromPort, to, toPort, seq, ack, flags, payload),
    ipId++,
  );
const udp = (from: Host, fromPort: number, to: Host, toPort: number, payload: Buffer) =>
  ethernetIpv4Frame(from, to, 17, udpDatagram(from, fromPort, to, toPort, payload), ipId++);

/** The packets of one TCP conversation: handshake, client data, server data, teardown. */
function conversation(
  client: Host,
  cport: number,
  server: Host,
  sport: number,
  request: Buffer,
  responseBytes: number,
): Step[] {
  const [SYN, ACK, PSH, FIN] = [2, 16, 8, 1];
  let c = Math.floor(random() * 2 ** 32);
  let s = Math.floor(random() * 2 ** 32);
  const steps: Step[] = [];
  const sc = c;
  const ss = s;
  steps.push(() => tcp(client, cport, server, sport, sc, 0, SYN));
  steps.push(() => tcp(server, sport, client, cport, ss, sc + 1, SYN | ACK));
  c += 1;
  s += 1;
  const c1 = c;
  const s1 = s;
  steps.push(() => tcp(client, cport, server, sport, c1, s1, ACK));
  for (let o = 0; o < request.length; o += 1400) {
    const part = request.subarray(o, o + 1400);
    const seq = c;
    steps.push(() => tcp(client, cport, server, sport, seq, s1, ACK | PSH, part));
    c += part.length;
  }
  const body = Buffer.alloc(1400, 0x61);
  for (let sent = 0; sent < responseBytes; sent += 1400) {
    const seq = s;
    const ack = c;
    const size = Math.min(1400, responseBytes - sent);
    steps.push(() => tcp(server, sport, client, cport, seq, ack, ACK | PSH, body.subarray(0, size)));
    s += size;
    if ((sent / 1400) % 2 === 1) steps.push(() => tcp(client, cport, server, sport, ack, seq + size, ACK));
  }
  const cf = c;
  const sf = s;
  steps.push(() => tcp(client, cport, server, sport, cf, sf, FIN | ACK));
  steps.push(() => tcp(server, sport, client, cport, sf, cf + 1, FIN | ACK));
  steps.push(() => tcp(client, cport, server, sport, cf + 1, sf + 1, ACK));
  return steps;
}

let flowNumber = 0;

/** An HTTP POST of a form carrying an IMEI and a phone number (and 0-600 bytes of padding). */
function reportPost(flowNumber: number, host: string): Buffer {
  const body = new URLSearchParams({
    imei: '864690020123454',
    phone: '+8613800138000',
    ts: String(1400000000000 + flowNumber),
    v: 'KHHCNBH39.0',
    payload: 'x'.repeat(Math.floor(random() * 600)),
  }).toString();
  return Buffer.from(
    `POST /api/v1/report?id=${flowNumber} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Dalvik/1.6.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/**
 * A short TCP conversation: handshake, the request in one segment, the response in one segment,
 * then FIN from both sides (6 packets) or a client RST (5 packets).
 */
function shortConversation(
  client: Host,
  cport: number,
  server: Host,
  sport: number,
  request: Buffer,
  response: Buffer,
  close: 'fin' | 'rst',
): Step[] {
  const [SYN, ACK, PSH, FIN, RST] = [2, 16, 8, 1, 4];
  const c = Math.floor(random() * 2 ** 32);
  const s = Math.floor(random() * 2 ** 32);
  const c1 = (c + 1) >>> 0;
  const s1 = (s + 1) >>> 0;
  const c2 = (c1 + request.length) >>> 0;
  const s2 = (s1 + response.length) >>> 0;
  const steps: Step[] = [
    () => tcp(client, cport, server, sport, c, 0, SYN),
    () => tcp(server, sport, client, cport, s, c1, SYN | ACK),
    () => tcp(client, cport, server, sport, c1, s1, ACK | PSH, request),
    () => tcp(server, sport, client, cport, s1, c2, ACK | PSH, response),
  ];
  if (close === 'rst') steps.push(() => tcp(client, cport, server, sport, c2, s2, RST | ACK));
  else
    steps.push(
      () => tcp(client, cport, server, sport, c2, s2, FIN | ACK),
      () => tcp(server, sport, client, cport, s2, (c2 + 1) >>> 0, FIN | ACK),
    );
  return steps;
}

/** The next short flow: devices take turns, each doing DNS, then HTTP, then TLS. */
function nextShortFlow(): Step[] {
  flowNumber++;
  const deviceNumber = Math.floor(flowNumber / 3);
  const device: Host = {
    mac: '64:09:80:11:22:33',
    ip: `10.${(deviceNumber >> 16) & 0xff}.${(deviceNumber >> 8) & 0xff}.${(deviceNumber & 0xfe) + 1}`,
  };
  const serverIp = `203.0.${Math.floor(random() * 256)}.${Math.floor(random() * 254) + 1}`;
  const server: Host = { mac: gatewayMac, ip: serverIp };
  const port = 1024 + (flowNumber % 60000);
  const host = pick(HOSTS);
  switch (flowNumber % 3) {
    case 0: {
      const resolver: Host = { mac: gatewayMac, ip: '10.255.255.1' };
      const id = flowNumber & 0xffff;
      return [
        () => udp(device, port, resolver, 53, dnsMessage(id, host)),
        () => udp(resolver, 53, device, port, dnsMessage(id, host, { addresses: [serverIp] })),
      ];
    }
    case 1: {
      const request = reportPost(flowNumber, host);
      const json = `{"code":0,"data":"${'a'.repeat(Math.floor(random() * 600))}"}`;
      const response = Buffer.from(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
      );
      return shortConversation(device, port, server, 80, request, response, 'fin');
    }
    default: {
      const random32 = Buffer.alloc(32, flowNumber & 0xff);
      const serverBytes = Buffer.alloc(600 + Math.floor(random() * 800), 0x17);
      const close = random() < 0.5 ? 'fin' : 'rst';
      return shortConversation(device, port, server, 443, tlsClientHello(host, random32), serverBytes, close);
    }
  }
}

function nextFlow(): Step[] {
  if (shape === 'short') return nextShortFlow();
  flowNumber++;
  const device: Host = {
    mac: '64:09:80:11:22:33',
    ip: `10.${(flowNumber >> 16) & 0xff}.${(flowNumber >> 8) & 0xff}.${(flowNumber & 0xfe) + 1}`,
  };
  const serverIp = `203.0.${Math.floor(random() * 256)}.${Math.floor(random() * 254) + 1}`;
  const server: Host = { mac: gatewayMac, ip: serverIp };
  const port = 1024 + (flowNumber % 60000);
  const host = pick(HOSTS);
  const kind = random();
  if (kind < 0.3) {
    const resolver: Host = { mac: gatewayMac, ip: '10.255.255.1' };
    const id = flowNumber & 0xffff;
    return [
      () => udp(device, port, resolver, 53, dnsMessage(id, host)),
      () => udp(resolver, 53, device, port, dnsMessage(id, host, { addresses: [serverIp] })),
    ];
  }
  if (kind < 0.7) {
    const random32 = Buffer.alloc(32, flowNumber & 0xff);
    return conversation(
      device,
      port,
      server,
      443,
      tlsClientHello(host, random32),
      4000 + Math.floor(random() * 30000),
    );
  }
  const request = reportPost(flowNumber, host);
  return conversation(device, port, server, 80, request, 2000 + Math.floor(random() * 12000));
}

mkdirSync(dirname(values.out), { recursive: true });
const out = createWriteStream(values.out);
const header = Buffer.alloc(24);
header.writeUInt32LE(0xa1b2c3d4, 0);
header.writeUInt16LE(2, 4);
header.writeUInt16LE(4, 6);
header.writeUInt32LE(262144, 16);
header.writeUInt32LE(1, 20);
out.write(header);
let written = 24;
let packets = 0;
let timeMicros = Date.UTC(2026, 0, 1) * 1000;
const active: Step[][] = [];
const pending: Buffer[] = [];
while (written < targetBytes) {
  while (active.length < concurrency) active.push(nextFlow());
  // Round-robin over the active flows, one packet each: packets of concurrent flows interleave.
  for (let i = active.length - 1; i >= 0; i--) {
    const steps = active[i]!;
    const data = steps.shift()!();
    if (steps.length === 0) active.splice(i, 1);
    const record = Buffer.alloc(16);
    timeMicros += 20 + Math.floor(random() * 40);
    record.writeUInt32LE(Math.floor(timeMicros / 1_000_000), 0);
    record.writeUInt32LE(timeMicros % 1_000_000, 4);
    record.writeUInt32LE(data.length, 8);
    record.writeUInt32LE(data.length, 12);
    pending.push(record, data);
    written += 16 + data.length;
    packets++;
  }
  if (pending.length > 2000 && !out.write(Buffer.concat(pending.splice(0)))) await once(out, 'drain');
}
out.end(Buffer.concat(pending.splice(0)));
await once(out, 'finish');
console.log(
  `${values.out}: ${(written / 1024 / 1024).toFixed(1)} MiB, ${packets} packets, ${flowNumber} flows started`,
);
