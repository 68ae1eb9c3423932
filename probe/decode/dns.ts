import type { DnsAnswer } from '../../schema/flowRecord.ts';
import { formatIpv6 } from './ipv6.ts';

/** DNS message, RFC 1035 §4.1: 12-byte header, then questions and resource records. */
const HEADER_LENGTH = 12;
const RR_TYPE = { A: 1, CNAME: 5, TXT: 16, AAAA: 28 } as const;
const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  65: 'HTTPS',
};
/** Compression pointers followed per name before the name is declared a loop (RFC 1035 §4.1.4). */
const MAX_POINTERS = 32;

export interface DnsMessage {
  readonly id: number;
  readonly isResponse: boolean;
  readonly queries: { name: string; type: string }[];
  readonly answers: DnsAnswer[];
}

class DnsBoundsError extends Error {
  override name = 'DnsBoundsError';
}

/** A record's names are at most 256 characters (schema/flowRecord.ts shortText). */
const MAX_NAME_CHARS = 256;

function readName(message: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  let pointers = 0;
  while (true) {
    if (offset >= message.length) throw new DnsBoundsError('name runs past the message');
    const length = message[offset]!;
    if (length === 0) {
      offset += 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= message.length) throw new DnsBoundsError('pointer runs past the message');
      if (++pointers > MAX_POINTERS) throw new DnsBoundsError('compression pointer loop');
      if (next < 0) next = offset + 2;
      offset = ((length & 0x3f) << 8) | message[offset + 1]!;
      continue;
    }
    if (length > 63) throw new DnsBoundsError(`label length ${length} over 63`);
    if (offset + 1 + length > message.length) throw new DnsBoundsError('label runs past the message');
    labels.push(message.toString('latin1', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  // RFC 1035 §2.3.4 allows 255 octets; a longer name (a hostile one) is cut to what a record can carry.
  const name = labels.join('.').toLowerCase() || '.';
  return {
    name: name.length > MAX_NAME_CHARS ? name.slice(0, MAX_NAME_CHARS) : name,
    next: next < 0 ? offset : next,
  };
}

/** Decodes a DNS message; returns null when it is not a well-formed DNS message. */
export function decodeDns(message: Buffer): DnsMessage | null {
  if (message.length < HEADER_LENGTH) return null;
  try {
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    const questionCount = message.readUInt16BE(4);
    const answerCount = message.readUInt16BE(6);
    let offset = HEADER_LENGTH;
    const queries: { name: string; type: string }[] = [];
    for (let i = 0; i < questionCount; i++) {
      const { name, next } = readName(message, offset);
      if (next + 4 > message.length) throw new DnsBoundsError('question runs past the message');
      const type = message.readUInt16BE(next);
      queries.push({ name, type: TYPE_NAMES[type] ?? `TYPE${type}` });
      offset = next + 4;
    }
    const answers: DnsAnswer[] = [];
    for (let i = 0; i < answerCount; i++) {
      const { name, next } = readName(message, offset);
      if (next + 10 > message.length) throw new DnsBoundsError('record runs past the message');
      const type = message.readUInt16BE(next);
      const ttl = message.readUInt32BE(next + 4);
      const dataLength = message.readUInt16BE(next + 8);
      const dataStart = next + 10;
      if (dataStart + dataLength > message.length) throw new DnsBoundsError('rdata runs past the message');
      if (type === RR_TYPE.A && dataLength === 4) {
        const b = message.subarray(dataStart, dataStart + 4);
        answers.push({ name, type: 'A', value: `${b[0]}.${b[1]}.${b[2]}.${b[3]}`, ttl });
      } else if (type === RR_TYPE.AAAA && dataLength === 16) {
        answers.push({
          name,
          type: 'AAAA',
          value: formatIpv6(message, dataStart),
          ttl,
        });
      } else if (type === RR_TYPE.TXT) {
        // RFC 1035 §3.3.14: one or more length-prefixed strings; kept joined, cut to 256 characters.
        const parts: string[] = [];
        for (let i = dataStart; i < dataStart + dataLength; ) {
          const length = message[i]!;
          parts.push(message.toString('latin1', i + 1, Math.min(dataStart + dataLength, i + 1 + length)));
          i += 1 + length;
        }
        const text = parts.join('');
        if (text.length > 0) answers.push({ name, type: 'TXT', value: text.slice(0, 256), ttl });
      } else if (type === RR_TYPE.CNAME) {
        answers.push({ name, type: 'CNAME', value: readName(message, dataStart).name, ttl });
      }
      offset = dataStart + dataLength;
    }
    return { id, isResponse: (flags & 0x8000) !== 0, queries, answers };
  } catch (error) {
    if (error instanceof DnsBoundsError) return null;
    throw error;
  }
}
