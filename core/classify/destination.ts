import { parse } from 'tldts';
import type { FlowRecord, TransportSecurity } from '../../schema/flowRecord.ts';
import type { DestinationCatalog } from '../catalog/catalog.ts';

export interface Destination {
  /** Best name for the server: HTTP Host, then TLS SNI, then a DNS answer, then the IP itself. */
  readonly host: string;
  readonly hostSource: 'http-host' | 'sni' | 'dns' | 'ip';
  /** Registrable domain (public suffix + 1, via tldts), or the IP when there is no name. */
  readonly registrableDomain: string;
  readonly organisation: string;
  readonly category: string;
  readonly service?: string;
  readonly transport: TransportSecurity;
}

/** Names a flow's destination and says who runs it and how it is reached. */
export function classifyDestination(record: FlowRecord, catalog: DestinationCatalog): Destination {
  const { names } = record;
  const [host, hostSource] = names.httpHost
    ? ([names.httpHost, 'http-host'] as const)
    : names.sni
      ? ([names.sni, 'sni'] as const)
      : names.dns
        ? ([names.dns, 'dns'] as const)
        : ([record.flow.server.ip ?? 'unknown', 'ip'] as const);
  const parsed = parse(host);
  const registrableDomain = parsed.isIp ? host : (parsed.domain ?? host);
  const entry = catalog.lookup(host);
  return {
    host,
    hostSource,
    registrableDomain,
    organisation: entry?.organisation ?? 'unknown',
    category: entry?.category ?? 'other',
    ...(entry?.service ? { service: entry.service } : {}),
    transport: record.transport,
  };
}
