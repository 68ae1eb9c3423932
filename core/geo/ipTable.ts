/**
 * IP → registration country and autonomous system, from one compact binary table built at install
 * by scripts/build-ip-table.ts from two @ip-location-db packages: geo-whois-asn-country (country of
 * registration per the RIRs' delegation data, NRO, CC BY 4.0; package CC0) and asn (DB-IP and
 * RouteViews data, CC BY 4.0; attribution in the README).
 *
 * Layout (little-endian): magic "LWIPT1\0\0"; u32 counts: AS v4, AS v6, country v4, country v6,
 * names bytes, country-codes bytes; then the sections, each a set of parallel u32 arrays sorted by
 * range start: AS v4 start[], end[], asn[], name[]; AS v6 over the top 64 bits of the address
 * startHi[], startLo[], endHi[], endLo[], asn[], name[]; country v4 start[], end[], code[]; country
 * v6 startHi[], startLo[], endHi[], endLo[], code[]; then the organisation names and the country
 * codes as JSON arrays. A lookup parses the address once and binary-searches: no decoding, no
 * allocation beyond the answer.
 */
export const IP_TABLE_MAGIC = 'LWIPT1\0\0';
const HEADER_BYTES = 32;

export interface AsnRange {
  readonly start: bigint;
  readonly end: bigint;
  readonly asn: number;
  readonly organisation: string;
}

export interface CountryRange {
  readonly start: bigint;
  readonly end: bigint;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

export interface IpTableData {
  readonly asnV4: readonly AsnRange[];
  readonly asnV6: readonly AsnRange[];
  readonly countryV4: readonly CountryRange[];
  readonly countryV6: readonly CountryRange[];
}

/** What the table knows of an address; each part only when a range holds it. */
export interface IpTableInfo {
  country?: string;
  asn?: number;
  asOrganisation?: string;
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 when it is not one. */
export function ipv4ToNumber(ip: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + octet;
}

const IPV6 = /^[0-9a-f:]+(?:\d+\.\d+\.\d+\.\d+)?$/i;

/**
 * The top 64 bits of an IPv6 address as [hi, lo] 32-bit halves; undefined when the text is not
 * an IPv6 address.
 */
export function ipv6Top64(ip: string): [number, number] | undefined {
  if (!ip.includes(':') || !IPV6.test(ip)) return undefined;
  const halves = ip.split('::');
  if (halves.length > 2) return undefined;
  const [head = '', tail = ''] = halves;
  const left = head ? head.split(':') : [];
  let right = tail ? tail.split(':') : [];
  // An IPv4 tail (`::ffff:1.2.3.4`) is two groups, below the top 64 bits.
  if (right.at(-1)?.includes('.')) right = [...right.slice(0, -1), '0', '0'];
  else if (halves.length === 1 && left.at(-1)?.includes('.')) left.splice(-1, 1, '0', '0');
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<string>(missing).fill('0'), ...right];
  const value = (i: number) => {
    const g = groups[i]!;
    return g.length >= 1 && g.length <= 4 ? Number.parseInt(g, 16) : Number.NaN;
  };
  for (let i = 0; i < 8; i++) if (Number.isNaN(value(i))) return undefined;
  return [((value(0) << 16) | value(1)) >>> 0, ((value(2) << 16) | value(3)) >>> 0];
}

const hi = (n: bigint) => Number((n >> 96n) & 0xffffffffn);
const lo = (n: bigint) => Number((n >> 64n) & 0xffffffffn);

/** Serialises the ranges (each list sorted by start) into the binary table. */
export function encodeIpTable(data: IpTableData): Buffer {
  const interned = () => {
    const list: string[] = [];
    const index = new Map<string, number>();
    return {
      list,
      of(text: string): number {
        let i = index.get(text);
        if (i === undefined) {
          i = list.length;
          list.push(text);
          index.set(text, i);
        }
        return i;
      },
    };
  };
  const names = interned();
  const countries = interned();
  const columns = <T>(rows: readonly T[], ...pick: ((row: T) => number)[]) =>
    pick.map((f) => Uint32Array.from(rows, f));
  const sections = [
    ...columns(
      data.asnV4,
      (r) => Number(r.start),
      (r) => Number(r.end),
      (r) => r.asn,
      (r) => names.of(r.organisation),
    ),
    ...columns(
      data.asnV6,
      (r) => hi(r.start),
      (r) => lo(r.start),
      (r) => hi(r.end),
      (r) => lo(r.end),
      (r) => r.asn,
      (r) => names.of(r.organisation),
    ),
    ...columns(
      data.countryV4,
      (r) => Number(r.start),
      (r) => Number(r.end),
      (r) => countries.of(r.country),
    ),
    ...columns(
      data.countryV6,
      (r) => hi(r.start),
      (r) => lo(r.start),
      (r) => hi(r.end),
      (r) => lo(r.end),
      (r) => countries.of(r.country),
    ),
  ];
  const namesJson = Buffer.from(JSON.stringify(names.list), 'utf8');
  const countriesJson = Buffer.from(JSON.stringify(countries.list), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(IP_TABLE_MAGIC, 0, 'latin1');
  [
    data.asnV4.length,
    data.asnV6.length,
    data.countryV4.length,
    data.countryV6.length,
    namesJson.length,
    countriesJson.length,
  ].forEach((n, i) => {
    header.writeUInt32LE(n, 8 + 4 * i);
  });
  const toBuffer = (a: Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return Buffer.concat([header, ...sections.map(toBuffer), namesJson, countriesJson]);
}

export class IpTableError extends Error {
  override name = 'IpTableError';
}

/** Index of the last range starting at or before `n` (IPv4 or one 32-bit half), or -1. */
function lastStartAtOrBefore(starts: Uint32Array, n: number): number {
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (starts[mid]! <= n) {
      found = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  return found;
}

/** The same over 64-bit starts held as two halves. */
function lastStartAtOrBefore64(startHi: Uint32Array, startLo: Uint32Array, aHi: number, aLo: number): number {
  let low = 0;
  let high = startHi.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const sHi = startHi[mid]!;
    if (sHi < aHi || (sHi === aHi && startLo[mid]! <= aLo)) {
      found = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  return found;
}

interface V4Ranges {
  readonly start: Uint32Array;
  readonly end: Uint32Array;
  readonly value: Uint32Array;
  readonly name?: Uint32Array;
}
interface V6Ranges {
  readonly startHi: Uint32Array;
  readonly startLo: Uint32Array;
  readonly endHi: Uint32Array;
  readonly endLo: Uint32Array;
  readonly value: Uint32Array;
  readonly name?: Uint32Array;
}

function findV4(r: V4Ranges, n: number): number {
  const i = lastStartAtOrBefore(r.start, n);
  return i >= 0 && n <= r.end[i]! ? i : -1;
}

function findV6(r: V6Ranges, aHi: number, aLo: number): number {
  const i = lastStartAtOrBefore64(r.startHi, r.startLo, aHi, aLo);
  if (i < 0) return -1;
  const eHi = r.endHi[i]!;
  return aHi < eHi || (aHi === eHi && aLo <= r.endLo[i]!) ? i : -1;
}

export class IpTable {
  private readonly asnV4: V4Ranges;
  private readonly asnV6: V6Ranges;
  private readonly countryV4: V4Ranges;
  private readonly countryV6: V6Ranges;
  private readonly names: string[];
  private readonly countries: string[];

  constructor(bytes: Buffer, source: string) {
    if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 8) !== IP_TABLE_MAGIC) {
      throw new IpTableError(`${source} is not a leakwatch IP table (run npm run build:data)`);
    }
    const [asnV4, asnV6, countryV4, countryV6, namesBytes, countriesBytes] = [0, 1, 2, 3, 4, 5].map((i) =>
      bytes.readUInt32LE(8 + 4 * i),
    ) as [number, number, number, number, number, number];
    const arraysBytes = 4 * (4 * asnV4 + 6 * asnV6 + 3 * countryV4 + 5 * countryV6);
    if (bytes.length !== HEADER_BYTES + arraysBytes + namesBytes + countriesBytes) {
      throw new IpTableError(`${source} is truncated or damaged (run npm run build:data)`);
    }
    // Typed arrays view the bytes directly when they are 4-byte aligned (a file read whole is);
    // otherwise they are copied once into an aligned buffer.
    let aligned: Uint8Array = bytes.subarray(HEADER_BYTES);
    if (aligned.byteOffset % 4 !== 0) aligned = Uint8Array.from(aligned);
    let offset = aligned.byteOffset;
    const take = (count: number) => {
      const view = new Uint32Array(aligned.buffer, offset, count);
      offset += count * 4;
      return view;
    };
    this.asnV4 = { start: take(asnV4), end: take(asnV4), value: take(asnV4), name: take(asnV4) };
    this.asnV6 = {
      startHi: take(asnV6),
      startLo: take(asnV6),
      endHi: take(asnV6),
      endLo: take(asnV6),
      value: take(asnV6),
      name: take(asnV6),
    };
    this.countryV4 = { start: take(countryV4), end: take(countryV4), value: take(countryV4) };
    this.countryV6 = {
      startHi: take(countryV6),
      startLo: take(countryV6),
      endHi: take(countryV6),
      endLo: take(countryV6),
      value: take(countryV6),
    };
    const json = (length: number) => {
      const text = Buffer.from(aligned.buffer, offset, length).toString('utf8');
      offset += length;
      return JSON.parse(text) as string[];
    };
    this.names = json(namesBytes);
    this.countries = json(countriesBytes);
  }

  get sizes(): { asnV4: number; asnV6: number; countryV4: number; countryV6: number } {
    return {
      asnV4: this.asnV4.start.length,
      asnV6: this.asnV6.startHi.length,
      countryV4: this.countryV4.start.length,
      countryV6: this.countryV6.startHi.length,
    };
  }

  /** Country and AS of an IPv4 address given as a number (ipv4ToNumber). */
  lookupV4(n: number): IpTableInfo {
    return this.answer(this.countryV4, findV4(this.countryV4, n), this.asnV4, findV4(this.asnV4, n));
  }

  /** Country and AS of an IPv6 address given as its top 64 bits (ipv6Top64). */
  lookupV6(aHi: number, aLo: number): IpTableInfo {
    return this.answer(
      this.countryV6,
      findV6(this.countryV6, aHi, aLo),
      this.asnV6,
      findV6(this.asnV6, aHi, aLo),
    );
  }

  /** The answer from the country range at index `c` and the AS range at `a` (-1: none). */
  private answer(
    country: { readonly value: Uint32Array },
    c: number,
    asn: { readonly value: Uint32Array; readonly name?: Uint32Array },
    a: number,
  ): IpTableInfo {
    const info: IpTableInfo = {};
    if (c >= 0) info.country = this.countries[country.value[c]!]!;
    if (a >= 0) {
      info.asn = asn.value[a]!;
      info.asOrganisation = this.names[asn.name![a]!]!;
    }
    return info;
  }

  /** Country and AS of an address in text form; empty for text that is not an address. */
  lookup(ip: string): IpTableInfo {
    const v4 = ipv4ToNumber(ip);
    if (v4 >= 0) return this.lookupV4(v4);
    const v6 = ipv6Top64(ip);
    return v6 ? this.lookupV6(v6[0], v6[1]) : {};
  }
}
