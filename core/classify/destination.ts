import { parse } from 'tldts';
import type { FlowRecord, TransportSecurity } from '../../schema/flowRecord.ts';
import type { CatalogEntry, DestinationCatalog } from '../catalog/catalog.ts';
import type { IpInfoLookup } from '../geo/ipInfo.ts';

export interface Destination {
  /** Best name for the server: HTTP Host, then TLS SNI, then a DNS answer, then reverse DNS, then the IP. */
  readonly host: string;
  readonly hostSource: 'http-host' | 'sni' | 'dns' | 'reverse-dns' | 'ip';
  /** Registrable domain (public suffix + 1, via tldts), or the IP when there is no name. */
  readonly registrableDomain: string;
  readonly organisation: string;
  readonly category: string;
  readonly service?: string;
  readonly transport: TransportSecurity;
  /** Transport with its version where known: `TLS 1.3`, `QUIC v1`, `plaintext HTTP`. */
  readonly transportDetail: string;
  /** Registration country of the server's address (offline database). */
  readonly country?: string;
  /** Autonomous system (network) of the server's address. */
  readonly asn?: number;
  readonly asOrganisation?: string;
}

/** Registrable domain and catalog entry per host, remembered (hosts repeat across flows). */
const HOSTS = new WeakMap<
  DestinationCatalog,
  Map<string, { registrableDomain: string; entry: CatalogEntry | undefined }>
>();

function describeHost(
  host: string,
  catalog: DestinationCatalog,
): { registrableDomain: string; entry: CatalogEntry | undefined } {
  let byHost = HOSTS.get(catalog);
  if (!byHost) {
    byHost = new Map();
    HOSTS.set(catalog, byHost);
  }
  let described = byHost.get(host);
  if (!described) {
    const parsed = parse(host);
    described = {
      registrableDomain: parsed.isIp ? host : (parsed.domain ?? host),
      entry: catalog.lookup(host),
    };
    if (byHost.size >= 20_000) byHost.clear();
    byHost.set(host, described);
  }
  return described;
}

/** `plaintext HTTP`, `plaintext DNS`, … made once, not per flow. */
const PLAINTEXT_DETAIL: Record<FlowRecord['application'], string> = {
  http: 'plaintext HTTP',
  tls: 'plaintext TLS',
  dns: 'plaintext DNS',
  quic: 'plaintext QUIC',
  other: 'plaintext OTHER',
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Names a flow's destination and says who runs it and how it is reached. */
export function classifyDestination(
  record: FlowRecord,
  catalog: DestinationCatalog,
  ipInfo?: IpInfoLookup,
  /** The server address's PTR name, looked up by the caller when the flow names nothing. */
  reverseName?: string,
): Destination {
  const { names } = record;
  let host: string;
  let hostSource: Destination['hostSource'];
  if (names.httpHost) {
    host = names.httpHost;
    hostSource = 'http-host';
  } else if (names.sni) {
    host = names.sni;
    hostSource = 'sni';
  } else if (names.dns) {
    host = names.dns;
    hostSource = 'dns';
  } else if (reverseName) {
    host = reverseName;
    hostSource = 'reverse-dns';
  } else {
    host = record.flow.server.ip ?? 'unknown';
    hostSource = 'ip';
  }
  const { registrableDomain, entry } = describeHost(host, catalog);
  const transportDetail =
    record.transport === 'tls'
      ? // A flow the lab's keys opened says so: its findings come from inside the TLS connection.
        record.tls?.decrypted
        ? `${record.tls.version ?? 'TLS'} decrypted${record.tls.suite ? ` (${record.tls.suite})` : ''}`
        : (record.tls?.version ?? 'TLS')
      : record.transport === 'quic'
        ? (record.quic?.version ?? 'QUIC')
        : record.transport === 'plaintext'
          ? PLAINTEXT_DETAIL[record.application]
          : 'unknown';
  // One object shape for every destination; optional fields only when known.
  const destination: Mutable<Destination> = {
    host,
    hostSource,
    registrableDomain,
    organisation: entry?.organisation ?? 'unknown',
    category: entry?.category ?? 'other',
    transport: record.transport,
    transportDetail,
  };
  if (entry?.service) destination.service = entry.service;
  const ip = record.flow.server.ip;
  if (ip && ipInfo) {
    const where = ipInfo.lookup(ip);
    if (where.country !== undefined) destination.country = where.country;
    if (where.asn !== undefined) destination.asn = where.asn;
    if (where.asOrganisation !== undefined) destination.asOrganisation = where.asOrganisation;
  }
  return destination;
}
