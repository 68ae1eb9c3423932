import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpTable, ipv4ToNumber, ipv6Top64 } from './ipTable.ts';

/** Where an address is registered and who runs its network, from offline databases. */
export interface IpInfo {
  /** ISO 3166-1 alpha-2 country of the address's registration. */
  readonly country?: string;
  readonly asn?: number;
  readonly asOrganisation?: string;
}

export interface IpInfoLookup {
  lookup(ip: string): IpInfo;
}

/**
 * Private, loopback, link-local, CGNAT, documentation, "this network" and broadcast IPv4 ranges
 * ([start, end] as numbers): they say nothing about a destination.
 */
const SPECIAL_V4: readonly (readonly [number, number])[] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['255.0.0.0', 8],
].map(([base, bits]) => {
  const start = ipv4ToNumber(base as string);
  return [start, start + 2 ** (32 - (bits as number)) - 1] as const;
});
const SPECIAL_V6 = /^(::1?$|fe[89ab][0-9a-f]:|f[cd][0-9a-f]{2}:|2001:db8:)/i;

function specialV4(n: number): boolean {
  for (const [start, end] of SPECIAL_V4) if (n >= start && n <= end) return true;
  return false;
}

const NOTHING: IpInfo = Object.freeze({});

/**
 * Country and AS from the IP table (data/ip-table.bin, built at install from @ip-location-db:
 * geo-whois-asn-country, CC0, on the RIRs' delegation data, NRO, CC BY 4.0; and asn, DB-IP and
 * RouteViews, CC BY 4.0). Results are cached per address.
 */
export class OfflineIpInfo implements IpInfoLookup {
  private readonly cache = new Map<string, IpInfo>();

  constructor(private readonly table: IpTable | undefined) {}

  lookup(ip: string): IpInfo {
    let info = this.cache.get(ip);
    if (info) return info;
    info = NOTHING;
    const v4 = ipv4ToNumber(ip);
    if (v4 >= 0) {
      if (this.table && !specialV4(v4)) info = this.table.lookupV4(v4);
    } else if (this.table && !SPECIAL_V6.test(ip)) {
      const v6 = ipv6Top64(ip);
      if (v6) info = this.table.lookupV6(v6[0], v6[1]);
    }
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(ip, info);
    return info;
  }
}

export interface IpInfoPaths {
  /** @default $LEAKWATCH_IP_TABLE, else data/ip-table.bin (npm run build:data) */
  readonly ipTable?: string;
}

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Opens the IP table; without it lookups have no country and no AS, which is reported through
 * `warn`.
 */
export function loadOfflineIpInfo(
  paths: IpInfoPaths = {},
  warn: (message: string) => void = () => undefined,
): OfflineIpInfo {
  const path = paths.ipTable ?? process.env.LEAKWATCH_IP_TABLE ?? join(projectRoot, 'data', 'ip-table.bin');
  if (existsSync(path)) return new OfflineIpInfo(new IpTable(readFileSync(path), path));
  warn(`no IP table at ${path} (npm run build:data): destinations get no country and no network owner`);
  return new OfflineIpInfo(undefined);
}
