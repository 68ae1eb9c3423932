import type { FlowRecord, SessionEndRecord } from '../../schema/flowRecord.ts';
import { isSuppressing } from '../alerts/alert.ts';
import {
  type BuildFacts,
  conditionsOf,
  type FlowObservation,
  isNewAgainst,
  resolvedBy,
} from '../alerts/rules.ts';
import { type ArchiveRow, archiveRowOf } from '../archive/archiveRow.ts';
import type { DestinationCatalog } from '../catalog/catalog.ts';
import { classifyCandidates, type Finding } from '../classify/classifyCandidates.ts';
import type { PersonalDataType } from '../classify/dataTypes.ts';
import { classifyDestination } from '../classify/destination.ts';
import type { IpInfoLookup } from '../geo/ipInfo.ts';
import type { ReverseLookup } from '../geo/reverseDns.ts';
import type { KnownValueIndex, ValueDigester } from '../registry/knownValues.ts';
import { lineKey, NO_PERSONAL_DATA } from '../store/keys.ts';
import type { LeakwatchStore, ObservationUpdate } from '../store/leakwatchStore.ts';
import { BatchReads } from './batchReads.ts';

export interface IngestDependencies {
  readonly store: LeakwatchStore;
  /** How many previous builds of a line form a build's baseline. @default 1 */
  readonly baselineBuilds?: number;
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
  /** The invocation's shared reads (alerts, baselines); without it each flow has its own. */
  readonly batchReads?: BatchReads;
}

export interface FlowOutcome {
  /** False when the flow had been counted before (a redelivery or replay). */
  readonly counted: boolean;
  readonly findings: Finding[];
  /** Alerts this call created or reopened (their notifications are queued in the outbox). */
  readonly alertsRaised: number;
  /** Decodings cut by the per-flow limits (VARIANT_LIMITS): the flow was classified only in part. */
  readonly decodingsCut: number;
  /** The flow's archive row (masked values and digests only), on every delivery: archiving is at least once. */
  readonly archiveRow: ArchiveRow;
}

/**
 * Classifies one flow record, adds it to its build's observations (once, however often it is
 * delivered), and applies the alert rules: a condition with no alert yet raises one if it is new
 * against the baseline builds; an existing alert is marked as seen in this build, or reopened when
 * this build comes after the build that resolved it. Alerts and their notifications are written
 * together (the outbox); the notify function delivers them.
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
  for (const finding of findings) {
    const list = byType.get(finding.dataType);
    if (list) list.push(finding);
    else byType.set(finding.dataType, [finding]);
  }

  const line = lineKey(record.device, record.firmware);
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
    });
    flowObservations.push({
      ...common,
      dataType,
      flowsWithoutConsent: withoutConsent ? 1 : 0,
      forms: new Set(forms),
      findings: list,
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
      deniedServices: deniedServicesOf(record),
      ...(record.probe.run ? { run: record.probe.run } : {}),
      observations,
    },
    now,
  );

  const reads = deps.batchReads ?? new BatchReads(deps.store);
  reads.flowCounted(line, record.firmware.build);
  const archiveRow = archiveRowOf(record, destination, findings, withoutConsent, now);
  if (byType.size === 0) return { counted, findings, alertsRaised: 0, decodingsCut: cut, archiveRow };
  // Rules run on redeliveries too: every write below is idempotent, and a crash after the flow was
  // counted must not lose its alert.
  const conditions = conditionsOf(record, destination, flowObservations, now);
  // The alerts these conditions may already have, read together (keys differ per condition).
  const existingAlerts = await Promise.all(conditions.map(({ alert }) => reads.alert(line, alert)));
  let baseline: BuildFacts[] | undefined;
  let alertsRaised = 0;
  for (const [i, { rule, subject, alert }] of conditions.entries()) {
    const existing = existingAlerts[i];
    const written = () => reads.forgetAlert(line, alert);
    if (existing) {
      if (
        existing.state === 'resolved' &&
        existing.resolvedInBuiltAt !== undefined &&
        record.firmware.builtAt >= existing.resolvedInBuiltAt
      ) {
        const reopened = await deps.store
          .reopenAlert(line, existing, record.firmware, now, !isSuppressing(existing.verification))
          .finally(written);
        if (reopened) alertsRaised++;
      } else if (!existing.seenInBuilds?.has(record.firmware.build)) {
        await deps.store.alertSeenIn(line, existing, record.firmware.build).finally(written);
      }
      continue;
    }
    baseline ??= await reads.baseline(line, record.firmware.build, () =>
      loadBaseline(deps, line, record.firmware),
    );
    if (!isNewAgainst(rule, baseline, subject, alert.dataType)) continue;
    const created = await deps.store
      .createAlert(line, { ...alert, baselineBuilds: baseline.map((b) => b.build) }, now)
      .finally(written);
    if (created) alertsRaised++;
  }
  return { counted, findings, alertsRaised, decodingsCut: cut, archiveRow };
}

const deniedServicesOf = (record: { session: { consent: Record<string, string> } }) =>
  Object.entries(record.session.consent)
    .filter(([, state]) => state === 'denied')
    .map(([service]) => service);

async function loadBaseline(
  deps: IngestDependencies,
  line: string,
  firmware: { build: string; builtAt: string },
): Promise<BuildFacts[]> {
  const builds = await deps.store.previousBuilds(line, firmware, Math.max(1, deps.baselineBuilds ?? 1));
  return Promise.all(builds.map((build) => deps.store.buildFacts(line, build)));
}

/** The session-end record came before all of its run's flows were counted: Lambda retries it. */
export class SessionIncompleteError extends Error {
  override name = 'SessionIncompleteError';
}

export interface SessionOutcome {
  readonly resolved: number;
  readonly flows: number;
  /** Flow records of the run that went to the dead-letter queue instead of the history. */
  readonly deadLettered: number;
}

/**
 * A probe run of a lab session has ended: once all its flows are counted, every open alert of the
 * line raised in an earlier build that this build no longer shows is resolved in this build (with a
 * follow-up notification, unless the lab's verdict suppresses the alert).
 */
export async function processSessionEnd(
  record: SessionEndRecord,
  deps: Pick<IngestDependencies, 'store' | 'clock'>,
): Promise<SessionOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
  const { store } = deps;
  const line = lineKey(record.device, record.firmware);
  const { flows: counted, deadLettered } = await store.sessionRun(
    record.device.id,
    record.session.id,
    record.probe.run,
  );
  if (counted < record.flows) {
    throw new SessionIncompleteError(
      `session ${record.session.id} (probe run ${record.probe.run}): ${counted} of ${record.flows} flow records counted so far; the session-end record is retried until all are`,
    );
  }
  await store.putLine(
    line,
    { vendor: record.device.vendor, model: record.device.model, lineName: record.firmware.line },
    { build: record.firmware.build, deviceId: record.device.id, sessionId: record.session.id },
    now,
  );
  // A session that sent nothing says nothing about what the build does.
  if (record.flows === 0) return { resolved: 0, flows: 0, deadLettered };
  // A flow that went to the dead-letter queue may have carried what an alert is about: the build's
  // history is incomplete, so no alert is resolved from it (a redrive and a later session can).
  if (deadLettered > 0) return { resolved: 0, flows: record.flows, deadLettered };
  const build = await store.getBuild(line, record.firmware);
  if (!build) return { resolved: 0, flows: record.flows, deadLettered };
  const facts = await store.buildFacts(line, build);
  let resolved = 0;
  for (const alert of await store.alertsOfLine(line)) {
    if (alert.state !== 'open' || alert.builtAt >= record.firmware.builtAt) continue;
    if (!resolvedBy(facts, alert)) continue;
    if (await store.resolveAlert(line, alert, record.firmware, now, !isSuppressing(alert.verification)))
      resolved++;
  }
  return { resolved, flows: record.flows, deadLettered };
}
