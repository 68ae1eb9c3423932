import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, type Response } from 'maxmind';
import { AsnTable } from './asnTable.ts';

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

/** Private, loopback, link-local, CGNAT and documentation ranges say nothing about a destination. */
const SPECIAL_V4 =
  /^(10\.|127\.|169\.254\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|0\.|255\.|192\.0\.2\.|198\.51\.100\.|203\.0\.113\.)/;
const SPECIAL_V6 = /^(::1?$|fe[89ab][0-9a-f]:|f[cd][0-9a-f]{2}:|2001:db8:)/i;

/**
 * Country from the geo-whois-asn-country mmdb (@ip-location-db, CC0; registration country per the
 * RIRs' delegation data, NRO, CC BY 4.0) read with `maxmind`; AS number and organisation from the
 * table built from @ip-location-db/asn (DB-IP and RouteViews, CC BY 4.0). Results are cached per address.
 */
export class OfflineIpInfo implements IpInfoLookup {
  private readonly cache = new Map<string, IpInfo>();

  constructor(
    private readonly country: Reader<Response> | undefined,
    private readonly asn: AsnTable | undefined,
  ) {}

  lookup(ip: string): IpInfo {
    let info = this.cache.get(ip);
    if (info) return info;
    const found: { country?: string; asn?: number; asOrganisation?: string } = {};
    const version = isIP(ip);
    if (version !== 0 && !(version === 4 ? SPECIAL_V4 : SPECIAL_V6).test(ip)) {
      // The ip-location-db mmdbs store a flat record: { country_code: 'CN' }.
      const country = (this.country?.get(ip) as { country_code?: string } | null | undefined)?.country_code;
      if (country) found.country = country;
      const as = this.asn?.lookup(ip);
      if (as) {
        found.asn = as.asn;
        found.asOrganisation = as.organisation;
      }
    }
    info = found;
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(ip, info);
    return info;
  }
}

export interface IpInfoPaths {
  /** @default $LEAKWATCH_COUNTRY_MMDB, else the installed @ip-location-db/geo-whois-asn-country-mmdb */
  readonly countryMmdb?: string;
  /** @default $LEAKWATCH_ASN_TABLE, else data/asn-table.bin (npm run build:data) */
  readonly asnTable?: string;
}

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function defaultCountryMmdb(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(
      dirname(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/package.json')),
      'geo-whois-asn-country.mmdb',
    );
  } catch {
    return undefined;
  }
}

/**
 * Opens the offline databases; a database that is not there is left out (lookups then have no
 * country or no AS) and reported through `warn`.
 */
export function loadOfflineIpInfo(
  paths: IpInfoPaths = {},
  warn: (message: string) => void = () => undefined,
): OfflineIpInfo {
  const countryPath = paths.countryMmdb ?? process.env.LEAKWATCH_COUNTRY_MMDB ?? defaultCountryMmdb();
  const asnPath =
    paths.asnTable ?? process.env.LEAKWATCH_ASN_TABLE ?? join(projectRoot, 'data', 'asn-table.bin');
  let country: Reader<Response> | undefined;
  let asn: AsnTable | undefined;
  if (countryPath && existsSync(countryPath)) country = new Reader(readFileSync(countryPath));
  else warn(`no country database at ${countryPath ?? '(none found)'}: destinations get no country`);
  if (existsSync(asnPath)) asn = new AsnTable(readFileSync(asnPath), asnPath);
  else warn(`no ASN table at ${asnPath} (npm run build:data): destinations get no network owner`);
  return new OfflineIpInfo(country, asn);
}
