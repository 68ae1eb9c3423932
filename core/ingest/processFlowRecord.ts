import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { AlertPublisher } from '../alerts/publisher.ts';
import { evaluateRules } from '../alerts/rules.ts';
import type { DestinationCatalog } from '../catalog/catalog.ts';
import { classifyCandidates, type Finding } from '../classify/classifyCandidates.ts';
import type { PersonalDataType } from '../classify/dataTypes.ts';
import { classifyDestination } from '../classify/destination.ts';
import type { IpInfoLookup } from '../geo/ipInfo.ts';
import type { ReverseLookup } from '../geo/reverseDns.ts';
import type { KnownValueIndex, ValueDigester } from '../registry/knownValues.ts';
import { lineKey } from '../store/keys.ts';
import type { LeakwatchStore, ObservationUpdate } from '../store/leakwatchStore.ts';

export interface IngestDependencies {
  readonly store: LeakwatchStore;
  readonly publisher: AlertPublisher;
  readonly catalog: DestinationCatalog;
  readonly clock?: () => Date;
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

export interface FlowOutcome {
  /** False when the flow had been counted before (a redelivery or replay). */
  readonly counted: boolean;
  readonly findings: Finding[];
  /** Alerts this call created and delivered (not ones that existed already). */
  readonly alertsRaised: number;
  /** Decodings cut by the per-flow limits (VARIANT_LIMITS): the flow was classified only in part. */
  readonly decodingsCut: number;
}

/**
 * Classifies one flow record, adds it to its build's observations (once, however often it is
 * delivered), and raises the alerts its rules call for. Alert creation is idempotent by key; an
 * alert found undelivered (an earlier attempt failed after storing it) is delivered now.
 */
export async function processFlowRecord(record: FlowRecord, deps: IngestDependencies): Promise<FlowOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
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
  for (const finding of findings)
    byType.set(finding.dataType, [...(byType.get(finding.dataType) ?? []), finding]);

  const line = lineKey(record.device, record.firmware);
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
  const observations: ObservationUpdate[] = [{ ...common, dataType: '-', where: [] }];
  for (const [dataType, list] of byType) {
    observations.push({
      ...common,
      dataType,
      where: [...new Set(list.map((f) => f.where))],
      masked: list[0]!.masked,
    });
  }
  const counted = await deps.store.recordFlow(
    {
      flowId: record.flow.id,
      line,
      vendor: record.device.vendor,
      model: record.device.model,
      lineName: record.firmware.line,
      build: record.firmware.build,
      builtAt: record.firmware.builtAt,
      deviceId: record.device.id,
      sessionId: record.session.id,
      startedAt: record.flow.startedAt,
      endedAt: record.flow.endedAt,
      bytesToServer: record.flow.bytes.toServer,
      bytesToClient: record.flow.bytes.toClient,
      observations,
    },
    now,
  );

  if (byType.size === 0) return { counted, findings, alertsRaised: 0, decodingsCut: cut };
  // Rules run on redeliveries too: creating an alert is idempotent, and a delivery that failed
  // after the flow was counted must still happen.
  const previous = await deps.store.previousBuild(line, record.firmware);
  const baselineSentPlaintext = new Map<PersonalDataType, boolean>();
  for (const dataType of byType.keys()) {
    baselineSentPlaintext.set(
      dataType,
      previous
        ? await deps.store.buildSentPlaintext(line, previous.build, destination.registrableDomain, dataType)
        : false,
    );
  }
  const alerts = evaluateRules({
    record,
    destination,
    findings: byType,
    baselineBuild: previous?.build ?? null,
    baselineSentPlaintext,
    now,
  });
  let alertsRaised = 0;
  for (const alert of alerts) {
    const { created, stored } = await deps.store.putAlertOnce(line, alert);
    if (!created && stored.notifiedAt) continue;
    await deps.publisher.publish(stored);
    await deps.store.markAlertNotified(line, stored, now);
    if (created) alertsRaised++;
  }
  return { counted, findings, alertsRaised, decodingsCut: cut };
}
