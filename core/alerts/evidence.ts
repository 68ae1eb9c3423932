import type { ObservationItem } from '../store/buildStore.ts';
import type { Alert } from './alert.ts';
import { RULES } from './rules.ts';

/** One host on which an alert's condition was seen in a build: how often, how, where, how encoded. */
export interface HostEvidence {
  readonly host: string;
  readonly transport: string;
  readonly transportDetail?: string;
  /** The first server address seen for the host (absent for HAR input). */
  readonly serverIp?: string;
  readonly country?: string;
  /** Flows of the build that sent the data type to this host this way. */
  readonly flows: number;
  readonly where: string[];
  readonly encodings: string[];
}

/**
 * Every host of a build on which an alert's condition holds (the same rule, subject and data type:
 * e.g. IMSI in plaintext to each host of xiaomi.net), from the build's observations, which count
 * each flow once. Most flows first.
 */
export function evidenceOf(
  alert: Pick<Alert, 'rule' | 'subject' | 'dataType'>,
  observations: readonly ObservationItem[],
): HostEvidence[] {
  const rule = RULES[alert.rule];
  return observations
    .filter((o) => o.dataType === alert.dataType && rule.subjectOf(o) === alert.subject)
    .map(
      (o): HostEvidence => ({
        host: o.host,
        transport: o.transport,
        ...(o.transportDetail ? { transportDetail: o.transportDetail } : {}),
        ...(o.serverIp ? { serverIp: o.serverIp } : {}),
        ...(o.country ? { country: o.country } : {}),
        flows: o.flows,
        where: [...(o.where ?? [])].sort(),
        encodings: [...(o.encodings ?? [])].sort(),
      }),
    )
    .sort((a, b) => b.flows - a.flows || a.host.localeCompare(b.host));
}

/** `api.chat.xiaomi.net (plaintext HTTP; 203.0.113.91, CN): 2 flows` */
export function hostEvidenceText(e: HostEvidence): string {
  const address = [e.serverIp, e.country].filter(Boolean).join(', ');
  return `${e.host} (${e.transportDetail ?? e.transport}${address ? `; ${address}` : ''}): ${e.flows} flow${e.flows === 1 ? '' : 's'}`;
}
