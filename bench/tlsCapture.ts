import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.ts';

/**
 * A large capture of decryptable TLS for bench:probe: the 13 real connections of
 * test/fixtures/tls/tls.pcap (TLS 1.2 and 1.3, each AEAD suite, HTTP/1.1 and HTTP/2), copied until
 * the file has the size asked for, each copy from another lab device address (10.1.x.y) with its
 * IPv4 and TCP checksums recomputed. Every copy keeps its ClientHello, so test/fixtures/tls/tls.keys
 * opens all of them: the per-flow work is that of real decryption.
 *
 *   npx tsx bench/tlsCapture.ts --out bench/out/tls-200.pcap --megabytes 200
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TLS_KEYS = join(root, 'test', 'fixtures', 'tls', 'tls.keys');
const SOURCE = join(root, 'test', 'fixtures', 'tls', 'tls.pcap');

function checksum(buffer: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) sum += (buffer[i]! << 8) | (i + 1 < end ? buffer[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The fixture's packets (Ethernet/IPv4/TCP), as [header, frame] pairs. */
function packets(): [Buffer, Buffer][] {
  const file = readFileSync(SOURCE);
  const out: [Buffer, Buffer][] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const length = file.readUInt32LE(at + 8);
    out.push([file.subarray(at, at + 16), file.subarray(at + 16, at + 16 + length)]);
    at += 16 + length;
  }
  return out;
}

/** A copy of a frame whose lab-device address (10.0.0.21) is `device`, checksums recomputed. */
function rewrite(frame: Buffer, device: Buffer): Buffer {
  const copy = Buffer.from(frame);
  const ip = 14;
  const headerLength = (copy[ip]! & 0x0f) * 4;
  for (const at of [ip + 12, ip + 16]) if (copy[at] === 10 && copy[at + 1] === 0) device.copy(copy, at);
  copy.writeUInt16BE(0, ip + 10);
  copy.writeUInt16BE(~checksum(copy, ip, ip + headerLength) & 0xffff, ip + 10);
  const tcp = ip + headerLength;
  const tcpLength = copy.readUInt16BE(ip + 2) - headerLength;
  copy.writeUInt16BE(0, tcp + 16);
  const pseudo = Buffer.alloc(12);
  copy.copy(pseudo, 0, ip + 12, ip + 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcpLength, 10);
  copy.writeUInt16BE(~checksum(copy, tcp, tcp + tcpLength, checksum(pseudo, 0, 12)) & 0xffff, tcp + 16);
  return copy;
}

export function makeTlsCapture(out: string, megabytes: number): void {
  const source = packets();
  const parts: Buffer[] = [readFileSync(SOURCE).subarray(0, 24)];
  let size = 24;
  const first = source[0]![0].readUInt32LE(0);
  for (let copy = 0; size < megabytes * 1e6; copy++) {
    const device = Buffer.from([10, 1, (copy >> 8) & 0xff, copy & 0xff]);
    // Each copy 30 s after the previous one (capture time), so flows close as a lab's would.
    for (const [header, frame] of source) {
      const h = Buffer.from(header);
      h.writeUInt32LE(first + 30 * copy + (header.readUInt32LE(0) - first), 0);
      const rewritten = rewrite(frame, device);
      parts.push(h, rewritten);
      size += 16 + rewritten.length;
    }
  }
  writeFileSync(out, Buffer.concat(parts));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = benchArgs('bench/tlsCapture.ts', {
    out: { type: 'string' },
    megabytes: { type: 'string', default: '200' },
  });
  if (!values.out) {
    console.error('--out FILE is required');
    process.exit(2);
  }
  makeTlsCapture(values.out, Number(values.megabytes));
  console.log(`wrote ${values.out}`);
}
