import { createHash } from 'node:crypto';
import type { Device, Firmware } from '../../schema/flowRecord.ts';

/** Key parts are URI-encoded so `#` and `|` inside names never split a key. */
const part = (value: string) => encodeURIComponent(value);

/** Identifies a firmware line of a device model. */
export function lineKey(device: Pick<Device, 'vendor' | 'model'>, firmware: Pick<Firmware, 'line'>): string {
  return `${part(device.vendor)}|${part(device.model)}|${part(firmware.line)}`;
}

/** The data type of an observation of a destination that received no personal data. */
export const NO_PERSONAL_DATA = '-';

/** The country of an address no database places (CLDR's code for the unknown region). */
export const UNKNOWN_COUNTRY = 'ZZ';
const sentOrganisation = (dataType: string, organisation: string) => `${dataType}|${organisation}`;
const sentCountry = (dataType: string, country: string) => `${dataType}|${country}`;

export const keys = {
  build: (line: string, firmware: Pick<Firmware, 'build' | 'builtAt'>) => ({
    pk: `LINE#${line}`,
    sk: `BUILD#${firmware.builtAt}#${part(firmware.build)}`,
  }),
  buildsOfLine: (line: string) => `LINE#${line}`,
  buildSortKey: (firmware: Pick<Firmware, 'build' | 'builtAt'>) =>
    `BUILD#${firmware.builtAt}#${part(firmware.build)}`,
  observations: (line: string, build: string) => `BUILD#${line}#${part(build)}`,
  /** Sort-key prefix of a build's observations of personal data (the others start `OBS#-#`). */
  personalObservations: 'OBS#P#',
  observation: (
    line: string,
    build: string,
    o: { registrableDomain: string; host: string; transport: string; dataType: string },
  ) => ({
    pk: `BUILD#${line}#${part(build)}`,
    sk: `OBS#${o.dataType === NO_PERSONAL_DATA ? '-' : 'P'}#${part(o.registrableDomain)}#${part(o.host)}#${o.transport}#${o.dataType}`,
  }),
  alerts: (line: string) => `ALERTS#${line}`,
  alert: (line: string, a: { rule: string; subject: string; dataType: string }) => ({
    pk: `ALERTS#${line}`,
    sk: `ALERT#${a.rule}#${part(a.subject)}#${a.dataType}`,
  }),
  /** Sort key of an alert in the alertsByState index: oldest first, ties by id. */
  alertOrder: (a: { createdAt: string; alertId: string }) => `${a.createdAt}#${a.alertId}`,
  /** Finds an alert by its short id (CLI and API). */
  alertId: (alertId: string) => ({ pk: `ALERTID#${alertId}`, sk: 'ALERTID' }),
  /** Notifications to deliver (the outbox): the notify function reads them from the table's stream. */
  outbox: 'OUTBOX',
  notification: (notificationId: string) => ({ pk: 'OUTBOX', sk: `NOTE#${notificationId}` }),
  notificationPrefix: 'NOTE#',
  /** One alert's event (opened, resolved, reopened in a build), grouped into a notification. */
  alertEvent: (eventId: string) => ({ pk: 'OUTBOX', sk: `EVENT#${eventId}` }),
  /** A device's lab session: its probe runs' counts and its flow-id chunks. */
  session: (deviceId: string, sessionId: string) => `SESSION#${part(deviceId)}#${part(sessionId)}`,
  /** Flows of one probe run of a session, counted as they are recorded. */
  sessionRun: (deviceId: string, sessionId: string, run: string) => ({
    pk: keys.session(deviceId, sessionId),
    sk: `RUN#${part(run)}`,
  }),
  /** One device's sessions, ordered by build date then build (its timeline). */
  deviceRuns: (deviceId: string) => `DEVICE#${part(deviceId)}`,
  deviceRun: (deviceId: string, firmware: Pick<Firmware, 'build' | 'builtAt'>, sessionId: string) => ({
    pk: `DEVICE#${part(deviceId)}`,
    sk: `RUN#${firmware.builtAt}#${part(firmware.build)}#${part(sessionId)}`,
  }),
  /** Index keys of a personal-data observation (tableDesign: sentByOrganisation, sentByCountry). */
  sent: (
    line: string,
    firmware: Pick<Firmware, 'build' | 'builtAt'>,
    o: { host: string; transport: string; dataType: string; organisation: string; country?: string },
  ) => ({
    sentOrg: sentOrganisation(o.dataType, o.organisation),
    sentCountry: sentCountry(o.dataType, o.country ?? UNKNOWN_COUNTRY),
    sentKey: `${line}#${firmware.builtAt}#${part(firmware.build)}#${part(o.host)}#${o.transport}`,
  }),
  sentOrganisation,
  sentCountry,
  /** Every firmware line seen (one item per line, written when a session ends). */
  lines: 'LINES',
  line: (line: string) => ({ pk: 'LINES', sk: line }),
  layout: { pk: 'META', sk: 'LAYOUT' },
};

/** Short stable id of an alert, from its line and key (no personal data in either). */
export function alertIdOf(line: string, a: { rule: string; subject: string; dataType: string }): string {
  return `A${createHash('sha256')
    .update(`${line}\n${keys.alert(line, a).sk}`)
    .digest('hex')
    .slice(0, 11)}`;
}
