import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP → autonomous system, from a compact binary table built from @ip-location-db/asn (DB-IP and
 * RouteViews data, CC BY 4.0; attribution in the README) by scripts/build-asn-table.ts.
 *
 * Layout (little-endian): magic "LWASN1\0\0"; u32 v4Count, u32 v6Count, u32 namesBytes;
 * v4: start[], end[], asn[], name[] (u32 each, sorted by start); v6 over the top 64 bits of the
 * address: startHi[], startLo[], endHi[], endLo[], asn[], name[]; then the organisation names as
 * a JSON array. Lookup is a binary search: no parsing at cold start beyond the names.
 */
export const ASN_TABLE_MAGIC = 'LWASN1\0\0';

export interface AsnRange {
  readonly start: bigint;
  readonly end: bigint;
  readonly asn: number;
  readonly organisation: string;
}

export interface AsnInfo {
  readonly asn: number;
  readonly organisation: string;
}

function ipv4ToNumber(ip: string): number {
  const parts = ip.split('.');
  return (
    ((Number(parts[0]) << 24) | (Number(parts[1]) << 16) | (Number(parts[2]) << 8) | Number(parts[3])) >>> 0
  );
}

/** The top 64 bits of an IPv6 address as [hi, lo] 32-bit halves. */
export function ipv6Top64(ip: string): [number, number] {
  let [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  if (tail.includes('.')) tail = ''; // IPv4-mapped tail: below the top 64 bits
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((g) =>
    Number.parseInt(g || '0', 16),
  );
  return [((groups[0]! << 16) | groups[1]!) >>> 0, ((groups[2]! << 16) | groups[3]!) >>> 0];
}

/** Serialises ranges (v4 and v6 separately sorted by start) into the binary table. */
export function encodeAsnTable(v4: AsnRange[], v6: AsnRange[]): Buffer {
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const nameOf = (organisation: string) => {
    let i = nameIndex.get(organisation);
    if (i === undefined) {
      i = names.length;
      names.push(organisation);
      nameIndex.set(organisation, i);
    }
    return i;
  };
  const v4Arrays = [
    new Uint32Array(v4.length),
    new Uint32Array(v4.length),
    new Uint32Array(v4.length),
    new Uint32Array(v4.length),
  ];
  v4.forEach((r, i) => {
    v4Arrays[0]![i] = Number(r.start);
    v4Arrays[1]![i] = Number(r.end);
    v4Arrays[2]![i] = r.asn;
    v4Arrays[3]![i] = nameOf(r.organisation);
  });
  const v6Arrays = Array.from({ length: 6 }, () => new Uint32Array(v6.length));
  v6.forEach((r, i) => {
    v6Arrays[0]![i] = Number((r.start >> 96n) & 0xffffffffn);
    v6Arrays[1]![i] = Number((r.start >> 64n) & 0xffffffffn);
    v6Arrays[2]![i] = Number((r.end >> 96n) & 0xffffffffn);
    v6Arrays[3]![i] = Number((r.end >> 64n) & 0xffffffffn);
    v6Arrays[4]![i] = r.asn;
    v6Arrays[5]![i] = nameOf(r.organisation);
  });
  const namesJson = Buffer.from(JSON.stringify(names), 'utf8');
  const header = Buffer.alloc(20);
  header.write(ASN_TABLE_MAGIC, 0, 'latin1');
  header.writeUInt32LE(v4.length, 8);
  header.writeUInt32LE(v6.length, 12);
  header.writeUInt32LE(namesJson.length, 16);
  const toBuffer = (a: Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return Buffer.concat([header, ...v4Arrays.map(toBuffer), ...v6Arrays.map(toBuffer), namesJson]);
}

export class AsnTableError extends Error {
  override name = 'AsnTableError';
}

export class AsnTable {
  private readonly v4: Uint32Array[];
  private readonly v6: Uint32Array[];
  private readonly names: string[];

  constructor(bytes: Buffer, source: string) {
    if (bytes.length < 20 || bytes.toString('latin1', 0, 8) !== ASN_TABLE_MAGIC) {
      throw new AsnTableError(`${source} is not a leakwatch ASN table (run npm run build:data)`);
    }
    const v4Count = bytes.readUInt32LE(8);
    const v6Count = bytes.readUInt32LE(12);
    const namesBytes = bytes.readUInt32LE(16);
    // Copy into an aligned buffer so typed arrays can view it directly.
    const aligned = new Uint8Array(bytes.length - 20);
    aligned.set(bytes.subarray(20));
    let offset = 0;
    const take = (count: number) => {
      const view = new Uint32Array(aligned.buffer, offset, count);
      offset += count * 4;
      return view;
    };
    this.v4 = [take(v4Count), take(v4Count), take(v4Count), take(v4Count)];
    this.v6 = Array.from({ length: 6 }, () => take(v6Count));
    this.names = JSON.parse(Buffer.from(aligned.buffer, offset, namesBytes).toString('utf8'));
  }

  get sizes(): { v4: number; v6: number; organisations: number } {
    return { v4: this.v4[0]!.length, v6: this.v6[0]!.length, organisations: this.names.length };
  }

  lookup(ip: string): AsnInfo | undefined {
    if (isIPv4(ip)) {
      const [starts, ends, asns, names] = this.v4 as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
      const n = ipv4ToNumber(ip);
      let lo = 0;
      let hi = starts.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= n) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found < 0 || n > ends[found]!) return undefined;
      return { asn: asns[found]!, organisation: this.names[names[found]!]! };
    }
    if (isIPv6(ip)) {
      const [sHi, sLo, eHi, eLo, asns, names] = this.v6 as [
        Uint32Array,
        Uint32Array,
        Uint32Array,
        Uint32Array,
        Uint32Array,
        Uint32Array,
      ];
      const [aHi, aLo] = ipv6Top64(ip);
      const le = (xHi: number, xLo: number, yHi: number, yLo: number) =>
        xHi < yHi || (xHi === yHi && xLo <= yLo);
      let lo = 0;
      let hi = sHi.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (le(sHi[mid]!, sLo[mid]!, aHi, aLo)) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found < 0 || !le(aHi, aLo, eHi[found]!, eLo[found]!)) return undefined;
      return { asn: asns[found]!, organisation: this.names[names[found]!]! };
    }
    return undefined;
  }
}
