import type { FlowRecord } from '../../schema/flowRecord.ts';
import { SET_CAPS } from '../store/itemLimits.ts';
import { keys, NO_PERSONAL_DATA } from '../store/keys.ts';
import type { AggregateWrite, Contribution } from '../store/watermark.ts';
import { type ClassifiedFlow, deniedServicesOf } from './classifyFlow.ts';

/** One record's part of one aggregate item. */
export interface ItemPart {
  readonly key: { readonly pk: string; readonly sk: string };
  readonly set: Readonly<Record<string, unknown>>;
  readonly contribution: Contribution;
  /** Capped sets of the item (core/store/itemLimits.ts). */
  readonly caps?: Readonly<Record<string, number>>;
}

const BUILD_CAPS = { deniedServices: SET_CAPS.deniedServices };
const DEVICE_RUN_CAPS = { dataTypes: SET_CAPS.dataTypes, plaintextDataTypes: SET_CAPS.plaintextDataTypes };
const OBSERVATION_CAPS = { where: SET_CAPS.where, encodings: SET_CAPS.encodings, forms: SET_CAPS.forms };

/** Whether the part is a probe run's own item (written first: a record it refuses touched nothing else). */
export const isRunItem = (part: { key: { pk: string; sk: string } }) =>
  part.key.pk.startsWith('SESSION#') && part.key.sk.startsWith('RUN#');

/**
 * What a flow record adds: to its build, its device's run, and one observation per destination
 * and data type when it is counted; to its probe run's count when it settles the run.
 */
export function partsOf(
  record: FlowRecord,
  sequence: string,
  flow: ClassifiedFlow | undefined,
  outcome: { readonly counted: boolean; readonly settles: boolean; readonly dead: boolean },
): ItemPart[] {
  const parts: ItemPart[] = [];
  const { device, firmware, session } = record;
  const seen = { firstSeen: record.flow.startedAt, lastSeen: record.flow.endedAt };
  if (outcome.settles && record.probe.run) {
    parts.push({
      key: keys.sessionRun(device.id, session.id, record.probe.run),
      set: { type: 'session-run' },
      contribution: {
        sequence,
        add: { flows: 1, ...(outcome.dead ? { deadLettered: 1 } : {}) },
        lastSeen: record.flow.endedAt,
      },
    });
  }
  if (!outcome.counted || !flow) return parts;
  const build = {
    vendor: device.vendor,
    model: device.model,
    lineName: firmware.line,
    build: firmware.build,
    builtAt: firmware.builtAt,
  };
  parts.push({
    key: keys.build(flow.line, firmware),
    set: { type: 'build', ...build },
    contribution: {
      sequence,
      ...seen,
      // Devices and sessions are counted when a session ends (core/store/membership.ts).
      add: { flows: 1, deniedServices: new Set(deniedServicesOf(record)) },
    },
    caps: BUILD_CAPS,
  });
  const personal = flow.observations.filter((o) => o.dataType !== NO_PERSONAL_DATA);
  parts.push({
    key: keys.deviceRun(device.id, firmware, session.id),
    set: { type: 'device-run', deviceId: device.id, sessionId: session.id, line: flow.line, ...build },
    contribution: {
      sequence,
      ...seen,
      add: {
        flows: 1,
        dataTypes: new Set(personal.map((o) => o.dataType)),
        plaintextDataTypes: new Set(
          personal.filter((o) => o.transport === 'plaintext').map((o) => o.dataType),
        ),
      },
    },
    caps: DEVICE_RUN_CAPS,
  });
  for (const o of flow.observations) {
    parts.push({
      key: keys.observation(flow.line, firmware.build, o),
      set: {
        type: 'observation',
        registrableDomain: o.registrableDomain,
        host: o.host,
        transport: o.transport,
        dataType: o.dataType,
        organisation: o.organisation,
        category: o.category,
        service: o.service,
        country: o.country,
        asn: o.asn,
        asOrganisation: o.asOrganisation,
        transportDetail: o.transportDetail,
        // Who and which build, for the sent-by indexes (and readers of a single item).
        line: flow.line,
        ...build,
        ...(o.dataType === NO_PERSONAL_DATA ? {} : keys.sent(flow.line, firmware, o)),
      },
      contribution: {
        sequence,
        ...seen,
        setOnce: { sample: o.masked, serverIp: record.flow.server.ip },
        add: {
          flows: 1,
          bytesToServer: record.flow.bytes.toServer,
          bytesToClient: record.flow.bytes.toClient,
          where: new Set(o.where),
          flowsWithoutConsent: o.withoutConsent ? 1 : undefined,
          forms: new Set(o.forms ?? []),
          encodings: new Set(o.encodings ?? []),
        },
      },
      caps: OBSERVATION_CAPS,
    });
  }
  return parts;
}

/** Parts of many records grouped by item: one write per item, its contributions in record order. */
export function groupParts(parts: Iterable<ItemPart>): AggregateWrite[] {
  const writes = new Map<string, AggregateWrite & { contributions: Contribution[] }>();
  for (const part of parts) {
    const id = `${part.key.pk}\u0000${part.key.sk}`;
    const write = writes.get(id);
    if (write) write.contributions.push(part.contribution);
    else
      writes.set(id, {
        key: part.key,
        set: part.set,
        contributions: [part.contribution],
        ...(part.caps ? { caps: part.caps } : {}),
      });
  }
  return [...writes.values()];
}
