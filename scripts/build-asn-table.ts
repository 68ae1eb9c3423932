import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AsnRange, encodeAsnTable } from '../core/geo/asnTable.ts';

/**
 * Builds data/asn-table.bin from @ip-location-db/asn (CSV, 64 MB; DB-IP and RouteViews data,
 * CC BY 4.0). Run by `npm run build:data` (part of prepare, so npm install/ci build it).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve('@ip-location-db/asn/package.json'));

/** Splits `a,b,asn,"org, with commas"` into its four fields. */
function fields(line: string): [string, string, string, string] {
  const first = line.indexOf(',');
  const second = line.indexOf(',', first + 1);
  const third = line.indexOf(',', second + 1);
  let org = line.slice(third + 1);
  if (org.startsWith('"') && org.endsWith('"')) org = org.slice(1, -1).replace(/""/g, '"');
  return [line.slice(0, first), line.slice(first + 1, second), line.slice(second + 1, third), org];
}

function ipv6ToBigInt(ip: string): bigint {
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}

const v4: AsnRange[] = [];
for (const line of (await readFile(join(packageDir, 'asn-ipv4-num.csv'), 'utf8')).split('\n')) {
  if (!line) continue;
  const [start, end, asn, organisation] = fields(line);
  v4.push({ start: BigInt(start), end: BigInt(end), asn: Number(asn), organisation });
}
const v6: AsnRange[] = [];
for (const line of (await readFile(join(packageDir, 'asn-ipv6.csv'), 'utf8')).split('\n')) {
  if (!line) continue;
  const [start, end, asn, organisation] = fields(line);
  v6.push({ start: ipv6ToBigInt(start), end: ipv6ToBigInt(end), asn: Number(asn), organisation });
}
v4.sort((a, b) => (a.start < b.start ? -1 : 1));
v6.sort((a, b) => (a.start < b.start ? -1 : 1));
const table = encodeAsnTable(v4, v6);
await mkdir(join(root, 'data'), { recursive: true });
await writeFile(join(root, 'data', 'asn-table.bin'), table);
console.log(
  `data/asn-table.bin: ${v4.length} IPv4 and ${v6.length} IPv6 ranges, ${(table.length / 1e6).toFixed(1)} MB`,
);
