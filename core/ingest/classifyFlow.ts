import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { FlowObservation } from '../alerts/rules.ts';
import type { DestinationCatalog } from '../catalog/catalog.ts';
import { classifyCandidates, type Finding } from '../classify/classifyCandidates.ts';
import type { PersonalDataType } from '../classify/dataTypes.ts';
import { classifyDestination, type Destination } from '../classify/destination.ts';
import type { IpInfoLookup } from '../geo/ipInfo.ts';
import type { ReverseLookup } from '../geo/reverseDns.ts';
import type { KnownValueIndex, ValueDigester } from '../registry/knownValues.ts';
import { lineKey, NO_PERSONAL_DATA } from '../store/keys.ts';
import type { ObservationUpdate } from '../store/leakwatchStore.ts';

export interface ClassifyDependencies {
  readonly catalog: DestinationCatalog;
  /** The registered values of a device, if the lab registered it (may load them). */
  readonly knownValues?: (
    deviceId: string,
  ) => Promise<KnownValueIndex | undefined> | KnownValueIndex | undefined;
  /** Digests values with the deployment's key (findings carry keyed digests of values). */
  readonly digester?: ValueDigester;
  /** Country and network of server addresses (offline databases). */
  readonly ipInfo?: IpInfoLookup;
  /** PTR names for flows that carry no name at all (Host, SNI, DNS answer). */
  readonly reverseLookup?: ReverseLookup;
}

/** One flow classified: where it went, what personal data it carried, and what that adds. */
export interface ClassifiedFlow {
  readonly line: string;
  readonly destination: Destination;
  readonly findings: Finding[];
  /** Decodings cut by the per-flow limits (VARIANT_LIMITS): the flow was classified only in part. */
  readonly decodingsCut: number;
  /** The session's consent for the destination's service was denied. */
  readonly withoutConsent: boolean;
  /** What the flow adds to its build's observations: the destination (`-`), and one per data type. */
  readonly observations: ObservationUpdate[];
  /** The same per data type, with the findings, for the alert rules. */
  readonly flowObservations: FlowObservation[];
}

/** Classifies one flow record's destination and personal data (no reads or writes of the history). */
export async function classifyFlow(record: FlowRecord, deps: ClassifyDependencies): Promise<ClassifiedFlow> {
  const { names } = record;
  const unnamed = !names.httpHost && !names.sni && !names.dns && record.flow.server.ip;
  const reverseName =
    unnamed && deps.reverseLookup ? await deps.reverseLookup(record.flow.server.ip!) : undefined;
  const destination = classifyDestination(record, deps.catalog, deps.ipInfo, reverseName);
  const known = await deps.knownValues?.(record.device.id);
  const { findings, cut } = classifyCandidates(record.candidates, {
    ...(record.device.region ? { region: record.device.region } : {}),
    ...(known ? { known } : {}),
    ...(deps.digester ? { digester: deps.digester } : {}),
  });
  const byType = new Map<PersonalDataType, Finding[]>();
  for (const finding of findings) {
    const list = byType.get(finding.dataType);
    if (list) list.push(finding);
    else byType.set(finding.dataType, [finding]);
  }
  const withoutConsent =
    destination.service !== undefined && record.session.consent[destination.service] === 'denied';
  const common = {
    registrableDomain: destination.registrableDomain,
    host: destination.host,
    transport: destination.transport,
    organisation: destination.organisation,
    category: destination.category,
    ...(destination.service ? { service: destination.service } : {}),
    ...(destination.country ? { country: destination.country } : {}),
    ...(destination.asn !== undefined ? { asn: destination.asn } : {}),
    ...(destination.asOrganisation ? { asOrganisation: destination.asOrganisation } : {}),
    transportDetail: destination.transportDetail,
  };
  const observations: ObservationUpdate[] = [{ ...common, dataType: NO_PERSONAL_DATA, where: [] }];
  const flowObservations: FlowObservation[] = [];
  for (const [dataType, list] of byType) {
    const forms = [...new Set(list.flatMap((f) => (f.form ? [f.form] : [])))];
    observations.push({
      ...common,
      dataType,
      where: [...new Set(list.map((f) => f.where))],
      masked: list[0]!.masked,
      withoutConsent,
      forms,
      encodings: [...new Set(list.filter((f) => f.chain.length > 0).map((f) => f.chain.join(' → ')))],
    });
    flowObservations.push({
      ...common,
      dataType,
      flowsWithoutConsent: withoutConsent ? 1 : 0,
      forms: new Set(forms),
      findings: list,
    });
  }
  return {
    line: lineKey(record.device, record.firmware),
    destination,
    findings,
    decodingsCut: cut,
    withoutConsent,
    observations,
    flowObservations,
  };
}

/** Services the session had consent denied for. */
export const deniedServicesOf = (record: { session: { consent: Record<string, string> } }) =>
  Object.entries(record.session.consent)
    .filter(([, state]) => state === 'denied')
    .map(([service]) => service);
