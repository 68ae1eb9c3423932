import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AsnRange, type CountryRange, encodeIpTable } from '../core/geo/ipTable.ts';

/**
 * Builds data/ip-table.bin from two @ip-location-db packages (CSV): asn (64 MB; DB-IP and
 * RouteViews data, CC BY 4.0) and geo-whois-asn-country (CC0; the RIRs' delegation data, NRO,
 * CC BY 4.0). Run by `npm run build:data` (part of prepare, so npm install/ci build it).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** Splits `a,b,c,"d, with commas"` into its fields (only the last may be quoted). */
function fields(line: string, count: number): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = 1; i < count; i++) {
    const comma = line.indexOf(',', from);
    out.push(line.slice(from, comma));
    from = comma + 1;
  }
  let last = line.slice(from);
  if (last.startsWith('"') && last.endsWith('"')) last = last.slice(1, -1).replace(/""/g, '"');
  out.push(last);
  return out;
}

async function rows<T>(pkg: string, file: string, count: number, make: (f: string[]) => T): Promise<T[]> {
  const text = await readFile(join(packageDir(pkg), file), 'utf8');
  const out: T[] = [];
  for (const line of text.split('\n')) if (line) out.push(make(fields(line, count)));
  return out;
}

const byStart = (a: { start: bigint }, b: { start: bigint }) =>
  a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
const asn = (f: string[]): AsnRange => ({
  start: BigInt(f[0]!),
  end: BigInt(f[1]!),
  asn: Number(f[2]),
  organisation: f[3]!,
});
const country = (f: string[]): CountryRange => ({ start: BigInt(f[0]!), end: BigInt(f[1]!), country: f[2]! });
const data = {
  asnV4: (await rows('@ip-location-db/asn', 'asn-ipv4-num.csv', 4, asn)).sort(byStart),
  asnV6: (await rows('@ip-location-db/asn', 'asn-ipv6-num.csv', 4, asn)).sort(byStart),
  countryV4: (
    await rows('@ip-location-db/geo-whois-asn-country', 'geo-whois-asn-country-ipv4-num.csv', 3, country)
  ).sort(byStart),
  countryV6: (
    await rows('@ip-location-db/geo-whois-asn-country', 'geo-whois-asn-country-ipv6-num.csv', 3, country)
  ).sort(byStart),
};
const table = encodeIpTable(data);
await mkdir(join(root, 'data'), { recursive: true });
await writeFile(join(root, 'data', 'ip-table.bin'), table);
console.log(
  `data/ip-table.bin: AS ${data.asnV4.length} IPv4 and ${data.asnV6.length} IPv6 ranges, country ${data.countryV4.length} IPv4 and ${data.countryV6.length} IPv6 ranges, ${(table.length / 1e6).toFixed(1)} MB`,
);
