import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ALERT_STATES, type AlertState, type StoredAlert } from '../alerts/alert.ts';
import { keys, NO_PERSONAL_DATA } from '../store/keys.ts';
import type { LineBuild, ObservationFields } from '../store/leakwatchStore.ts';
import { deviceSampleOf, memberCount } from '../store/membership.ts';
import { TABLE_DESIGN } from '../store/tableDesign.ts';
import { HistoryQueryError } from './historyQueryError.ts';

export { HistoryQueryError };

/**
 * The questions a lab asks of its fleet's history, answered from the single table by key: every
 * answer is a Query on one partition (or one index partition), never a Scan. Lists come in pages
 * (`limit`, and `next` from the previous page). The CLI, the HTTP API and the report all ask here.
 */
export interface PageOptions {
  /** Items per page (1–1000). @default 100 */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly next?: string;
}

export interface Page<T> {
  readonly items: T[];
  /** Present when there is more: pass it as `next` for the following page. */
  readonly next?: string;
}

export interface LineSummary {
  /** The line's key (vendor|model|line, each part URI-encoded): what the API takes as `line`. */
  readonly line: string;
  readonly vendor: string;
  readonly model: string;
  readonly lineName: string;
  readonly builds: number;
  readonly devices: number;
  readonly sessions: number;
  readonly firstSessionEnded?: string;
  readonly lastSessionEnded?: string;
}

export interface BuildRow {
  readonly line: string;
  readonly build: string;
  readonly builtAt: string;
  readonly flows: number;
  readonly devices: number;
  readonly sessions: number;
  readonly firstSeen?: string;
  readonly lastSeen?: string;
  /** Services the lab's consent settings denied in this build's sessions. */
  readonly deniedServices: string[];
  /** Lab devices that ran this build: all of them up to 32 (`devices` counts them all). */
  readonly deviceIds: string[];
}

/** One destination × data type × transport of a build ("-" as data type: traffic without personal data). */
export interface DestinationRow extends ObservationFields {
  readonly flows: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly flowsWithoutConsent?: number;
  /** How a known value was written (`plain`, `md5-hex`, …). */
  readonly forms?: string[];
  /** Where in requests (`form:imei`, …). */
  readonly where?: string[];
  /** A masked sample (`8646••••••4565`), never the value. */
  readonly sample?: string;
}

export interface BuildReport {
  readonly build: BuildRow & { vendor: string; model: string; lineName: string };
  /** Personal data first (then, when asked for, the other destinations); by data type, organisation, host. */
  readonly destinations: DestinationRow[];
  /** Per data type: how it left (plaintext, TLS, both) and to how many organisations/countries. */
  readonly dataTypes: DataTypeSummary[];
}

export type Exposure = 'plaintext' | 'encrypted' | 'both';

export interface DataTypeSummary {
  readonly dataType: string;
  readonly exposure: Exposure;
  readonly flows: number;
  readonly organisations: string[];
  readonly countries: string[];
  readonly flowsWithoutConsent: number;
}

export interface DiffEntry {
  readonly dataType: string;
  readonly host: string;
  readonly organisation: string;
  readonly country?: string;
  /** Transports in the earlier build (empty: absent). */
  readonly before: string[];
  /** Transports in the later build (empty: absent). */
  readonly after: string[];
}

export interface BuildDiff {
  readonly line: string;
  readonly from: BuildRow;
  readonly to: BuildRow;
  /** Personal data sent to a host in `to` and not in `from`. */
  readonly appeared: DiffEntry[];
  /** Sent in `from`, no longer in `to` (the fix check). */
  readonly disappeared: DiffEntry[];
  /** Sent in plaintext before, only encrypted now. */
  readonly nowEncrypted: DiffEntry[];
  /** Sent encrypted before, in plaintext now. */
  readonly nowPlaintext: DiffEntry[];
  /** Sent the same way in both. */
  readonly unchanged: number;
  /** Per data type, exposure before and after ("absent" when not sent). */
  readonly dataTypes: { dataType: string; before: Exposure | 'absent'; after: Exposure | 'absent' }[];
}

export interface DeviceRun extends LineBuild {
  readonly deviceId: string;
  readonly sessionId: string;
  readonly flows: number;
  readonly firstSeen?: string;
  readonly lastSeen?: string;
  readonly dataTypes: string[];
  readonly plaintextDataTypes: string[];
}

export interface SentRow extends LineBuild {
  readonly host: string;
  readonly registrableDomain: string;
  readonly transport: string;
  readonly dataType: string;
  readonly organisation: string;
  readonly country?: string;
}

export interface AlertFilter {
  readonly state?: AlertState;
  readonly severity?: string;
  readonly model?: string;
  readonly lineName?: string;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Lines whose alerts are read at the same time. */
const ALERT_QUERIES_AT_ONCE = 16;

const strings = (value: unknown): string[] => [...((value as Set<string> | undefined) ?? [])].sort();
const isPlaintext = (transport: string) => transport === 'plaintext';

export function exposureOf(transports: Iterable<string>): Exposure | 'absent' {
  let plain = false;
  let encrypted = false;
  for (const t of transports) {
    if (isPlaintext(t)) plain = true;
    else encrypted = true;
  }
  return plain && encrypted ? 'both' : plain ? 'plaintext' : encrypted ? 'encrypted' : 'absent';
}

export class FleetHistory {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Firmware lines (with their model and vendor), with how many builds, devices and sessions ran them. */
  async lines(page: PageOptions = {}): Promise<Page<LineSummary>> {
    return this.page(
      { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.lines } },
      page,
      toLine,
    );
  }

  /** Every line, all pages (lines are few: one per model and firmware line). */
  async allLines(): Promise<LineSummary[]> {
    return everyPage((page) => this.lines(page));
  }

  /**
   * The line a lab names by its firmware line name, narrowed by model and vendor when several
   * models share a line name; a line key (`vendor|model|line`) is taken as it is.
   */
  async resolveLine(name: { line: string; model?: string; vendor?: string }): Promise<LineSummary> {
    const fits = (l: LineSummary) =>
      (!name.model || l.model === name.model) && (!name.vendor || l.vendor === name.vendor);
    // A line key (what /lines returns, and the API is given) is read directly.
    if (name.line.includes('|')) {
      const { Item: item } = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: keys.line(name.line) }),
      );
      const line = item ? toLine(item) : undefined;
      if (line && fits(line)) return line;
    }
    const all = await this.allLines();
    const matches = all.filter((l) => (l.line === name.line || l.lineName === name.line) && fits(l));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0)
      throw new HistoryQueryError(
        `no firmware line "${quoted(name.line)}"${name.model ? ` of model "${quoted(name.model)}"` : ''}${name.vendor ? ` by ${quoted(name.vendor)}` : ''}`,
        404,
        `known: ${all.map((l) => `${l.model} ${l.lineName}`).join(', ') || 'none yet'}`,
      );
    throw new HistoryQueryError(
      `firmware line "${name.line}" is used by ${matches.map((l) => `${l.vendor} ${l.model}`).join(', ')}: name the model (--model)`,
    );
  }

  /** A line's builds, newest first. */
  async builds(line: string, page: PageOptions = {}): Promise<Page<BuildRow>> {
    return this.page(
      {
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.buildsOfLine(line) },
        ScanIndexForward: false,
      },
      page,
      (item) => toBuild(line, item),
    );
  }

  /** One build of a line by its name (builds are keyed by date, so the line's builds are searched). */
  async build(
    line: string,
    build: string,
  ): Promise<BuildRow & { vendor: string; model: string; lineName: string }> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: '#build = :build',
          ExpressionAttributeNames: { '#build': 'build' },
          ExpressionAttributeValues: { ':pk': keys.buildsOfLine(line), ':build': build },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const item = result.Items?.[0];
      if (item) return { ...toBuild(line, item), ...modelOf(item) };
      startKey = result.LastEvaluatedKey;
    } while (startKey);
    throw new HistoryQueryError(`no build "${build}" in line ${line}`, 404);
  }

  /** A build's observations as they are stored (destination × data type × transport), in pages. */
  async destinations(
    line: string,
    build: string,
    page: PageOptions = {},
    which: { personalOnly?: boolean } = {},
  ): Promise<Page<DestinationRow>> {
    return this.page(
      {
        // Personal-data observations have a sort-key range of their own: only they are read.
        ...(which.personalOnly
          ? {
              KeyConditionExpression: 'pk = :pk AND begins_with(sk, :personal)',
              ExpressionAttributeValues: {
                ':pk': keys.observations(line, build),
                ':personal': keys.personalObservations,
              },
            }
          : {
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': keys.observations(line, build) },
            }),
      },
      page,
      toDestination,
    );
  }

  private allDestinations(line: string, build: string, personalOnly: boolean): Promise<DestinationRow[]> {
    return everyPage((page) => this.destinations(line, build, page, { personalOnly }));
  }

  /**
   * What one build sends: its personal data by destination × transport (with `all`, every
   * destination, also those that received none), and a summary per data type.
   */
  async buildReport(line: string, build: string, options: { all?: boolean } = {}): Promise<BuildReport> {
    const [summary, rows] = await Promise.all([
      this.build(line, build),
      this.allDestinations(line, build, !options.all),
    ]);
    const destinations = rows.sort(
      (a, b) =>
        Number(a.dataType === NO_PERSONAL_DATA) - Number(b.dataType === NO_PERSONAL_DATA) ||
        a.dataType.localeCompare(b.dataType) ||
        a.organisation.localeCompare(b.organisation) ||
        a.host.localeCompare(b.host) ||
        a.transport.localeCompare(b.transport),
    );
    return { build: summary, destinations, dataTypes: summarise(rows) };
  }

  /**
   * What changed from one build to another of the same line: personal data that appeared,
   * disappeared, or moved between plaintext and encryption, per host and data type.
   */
  async diff(line: string, from: string, to: string): Promise<BuildDiff> {
    const [fromBuild, toBuild, before, after] = await Promise.all([
      this.build(line, from),
      this.build(line, to),
      this.allDestinations(line, from, true),
      this.allDestinations(line, to, true),
    ]);
    const group = (rows: DestinationRow[]) => {
      const map = new Map<string, { row: DestinationRow; transports: Set<string> }>();
      for (const row of rows) {
        if (row.dataType === NO_PERSONAL_DATA) continue;
        const id = `${row.dataType}\n${row.host}`;
        const entry = map.get(id) ?? { row, transports: new Set<string>() };
        entry.transports.add(row.transport);
        map.set(id, entry);
      }
      return map;
    };
    const a = group(before);
    const b = group(after);
    const result = {
      appeared: [] as DiffEntry[],
      disappeared: [] as DiffEntry[],
      nowEncrypted: [] as DiffEntry[],
      nowPlaintext: [] as DiffEntry[],
    };
    let unchanged = 0;
    for (const id of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(id);
      const y = b.get(id);
      const row = (y ?? x)!.row;
      const entry: DiffEntry = {
        dataType: row.dataType,
        host: row.host,
        organisation: row.organisation,
        ...(row.country ? { country: row.country } : {}),
        before: [...(x?.transports ?? [])].sort(),
        after: [...(y?.transports ?? [])].sort(),
      };
      if (!x) result.appeared.push(entry);
      else if (!y) result.disappeared.push(entry);
      else {
        const was = exposureOf(x.transports);
        const is = exposureOf(y.transports);
        if (was !== 'encrypted' && is === 'encrypted') result.nowEncrypted.push(entry);
        else if (was !== 'plaintext' && was !== 'both' && is !== 'encrypted') result.nowPlaintext.push(entry);
        else unchanged++;
      }
    }
    const order = (e: DiffEntry, f: DiffEntry) =>
      e.dataType.localeCompare(f.dataType) || e.host.localeCompare(f.host);
    for (const list of Object.values(result)) list.sort(order);
    const typesBefore = new Map(summarise(before).map((s) => [s.dataType, s.exposure]));
    const typesAfter = new Map(summarise(after).map((s) => [s.dataType, s.exposure]));
    const dataTypes = [...new Set([...typesBefore.keys(), ...typesAfter.keys()])].sort().map((dataType) => ({
      dataType,
      before: typesBefore.get(dataType) ?? ('absent' as const),
      after: typesAfter.get(dataType) ?? ('absent' as const),
    }));
    return { line, from: fromBuild, to: toBuild, ...result, unchanged, dataTypes };
  }

  /** One device's sessions across builds, in build order. */
  async device(deviceId: string, page: PageOptions = {}): Promise<Page<DeviceRun>> {
    return this.page(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
        ExpressionAttributeValues: { ':pk': keys.deviceRuns(deviceId), ':run': 'RUN#' },
      },
      page,
      toDeviceRun,
    );
  }

  /**
   * Which builds ever sent a data type to an organisation or to a country: one row per build,
   * host and transport, by line then build date.
   */
  async sent(
    query: { dataType: string; organisation?: string; country?: string },
    page: PageOptions = {},
  ): Promise<Page<SentRow>> {
    if ((query.organisation === undefined) === (query.country === undefined))
      throw new HistoryQueryError('name either an organisation or a country (not both)');
    const index =
      query.organisation !== undefined
        ? TABLE_DESIGN.indexes.sentByOrganisation
        : TABLE_DESIGN.indexes.sentByCountry;
    const value =
      query.organisation !== undefined
        ? keys.sentOrganisation(query.dataType, query.organisation)
        : keys.sentCountry(query.dataType, query.country!.toUpperCase());
    return this.indexPage(index, value, page, toSent);
  }

  /** Alerts of a line, in pages. */
  async alertsOfLine(line: string, page: PageOptions = {}): Promise<Page<StoredAlert>> {
    return this.page(
      { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.alerts(line) } },
      page,
      (item) => item as unknown as StoredAlert,
    );
  }

  /** Alerts of every line in one state, oldest first, in pages (the alertsByState index). */
  async alertsInState(state: AlertState, page: PageOptions = {}): Promise<Page<StoredAlert>> {
    return this.indexPage(
      TABLE_DESIGN.indexes.alertsByState,
      state,
      page,
      (item) => item as unknown as StoredAlert,
    );
  }

  /** One partition of an index, in pages. */
  private indexPage<T>(
    index: { indexName: string; partitionKey: string },
    value: string,
    page: PageOptions,
    map: (item: Record<string, unknown>) => T,
  ): Promise<Page<T>> {
    return this.page(
      {
        IndexName: index.indexName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: { ':pk': value },
      },
      page,
      map,
    );
  }

  /**
   * Alerts, filtered. For a model or line, a Query per matching line (several at a time); across
   * the fleet, one Query of the alertsByState index per state asked for.
   */
  async alerts(filter: AlertFilter = {}): Promise<StoredAlert[]> {
    const wanted = (a: StoredAlert) =>
      (!filter.state || a.state === filter.state) && (!filter.severity || a.severity === filter.severity);
    if (!filter.model && !filter.lineName) {
      const states = filter.state ? [filter.state] : ALERT_STATES;
      const found = await Promise.all(
        states.map((state) => everyPage((page) => this.alertsInState(state, page))),
      );
      return found.flat().filter(wanted);
    }
    const lines = (await this.allLines()).filter(
      (line) =>
        (!filter.model || line.model === filter.model) &&
        (!filter.lineName || line.lineName === filter.lineName),
    );
    const ofLine = async (line: LineSummary) =>
      (await everyPage((page) => this.alertsOfLine(line.line, page))).filter(wanted);
    const results: StoredAlert[][] = [];
    for (let i = 0; i < lines.length; i += ALERT_QUERIES_AT_ONCE)
      results.push(...(await Promise.all(lines.slice(i, i + ALERT_QUERIES_AT_ONCE).map(ofLine))));
    return results.flat();
  }

  private async page<T>(
    input: Omit<QueryCommandInput, 'TableName' | 'Limit' | 'ExclusiveStartKey'>,
    options: PageOptions,
    map: (item: Record<string, unknown>) => T,
  ): Promise<Page<T>> {
    const limit = options.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      throw new HistoryQueryError(`limit ${options.limit}: a whole number from 1 to ${MAX_LIMIT}`);
    const result = await this.client.send(
      new QueryCommand({
        ...input,
        TableName: this.tableName,
        Limit: limit,
        ...(options.next
          ? { ExclusiveStartKey: decodeToken(options.next, input.ExpressionAttributeValues?.[':pk']) }
          : {}),
      }),
    );
    const items = (result.Items ?? []).map(map);
    return result.LastEvaluatedKey ? { items, next: encodeToken(result.LastEvaluatedKey) } : { items };
  }
}

/** Every item of a paged answer, reading the largest pages. */
export async function everyPage<T>(read: (page: PageOptions) => Promise<Page<T>>): Promise<T[]> {
  const all: T[] = [];
  let next: string | undefined;
  do {
    const page = await read({ limit: MAX_LIMIT, ...(next ? { next } : {}) });
    all.push(...page.items);
    next = page.next;
  } while (next);
  return all;
}

/** Page tokens: the last key, base64url JSON (opaque to callers; checked when read back). */
function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** A name from a question, as an answer shows it: at most 64 characters. */
export const quoted = (text: string) => (text.length > 64 ? `${text.slice(0, 64)}…` : text);

/**
 * The key a page token holds, checked against the query it is used with: a token names the
 * partition of the query that made it (`pk` or the index's partition attribute), so a token made up,
 * or taken from another question, is refused instead of starting a query at an arbitrary key.
 */
function decodeToken(token: string, partition?: unknown): Record<string, unknown> {
  if (token.length > 4096) throw new HistoryQueryError('next: not a page token of a previous answer');
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (
      key &&
      typeof key === 'object' &&
      !Array.isArray(key) &&
      Object.values(key).every((v) => typeof v === 'string') &&
      'pk' in key &&
      'sk' in key
    ) {
      if (partition !== undefined && !Object.values(key).includes(partition))
        throw new HistoryQueryError('next: a page token of another question');
      return key as Record<string, unknown>;
    }
  } catch (error) {
    if (error instanceof HistoryQueryError) throw error;
    // reported below
  }
  throw new HistoryQueryError('next: not a page token of a previous answer');
}

function summarise(rows: readonly DestinationRow[]): DataTypeSummary[] {
  const byType = new Map<
    string,
    {
      transports: Set<string>;
      flows: number;
      organisations: Set<string>;
      countries: Set<string>;
      withoutConsent: number;
    }
  >();
  for (const row of rows) {
    if (row.dataType === NO_PERSONAL_DATA) continue;
    let s = byType.get(row.dataType);
    if (!s) {
      s = {
        transports: new Set(),
        flows: 0,
        organisations: new Set(),
        countries: new Set(),
        withoutConsent: 0,
      };
      byType.set(row.dataType, s);
    }
    s.transports.add(row.transport);
    s.flows += row.flows;
    s.organisations.add(row.organisation);
    if (row.country) s.countries.add(row.country);
    s.withoutConsent += row.flowsWithoutConsent ?? 0;
  }
  return [...byType]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([dataType, s]) => ({
      dataType,
      exposure: exposureOf(s.transports) as Exposure,
      flows: s.flows,
      organisations: [...s.organisations].sort(),
      countries: [...s.countries].sort(),
      flowsWithoutConsent: s.withoutConsent,
    }));
}

/** Vendor, model and firmware line name, as every line, build and observation item holds them. */
function modelOf(item: Record<string, unknown>): { vendor: string; model: string; lineName: string } {
  return { vendor: String(item.vendor), model: String(item.model), lineName: String(item.lineName) };
}

/** Which line and build a device-run or observation item belongs to. */
function buildOf(item: Record<string, unknown>): LineBuild {
  return {
    line: String(item.line),
    ...modelOf(item),
    build: String(item.build),
    builtAt: String(item.builtAt),
  };
}

function toLine(item: Record<string, unknown>): LineSummary {
  return {
    line: String(item.sk),
    ...modelOf(item),
    builds: memberCount(item, 'build'),
    devices: memberCount(item, 'device'),
    sessions: memberCount(item, 'session'),
    ...(item.firstSessionEnded ? { firstSessionEnded: String(item.firstSessionEnded) } : {}),
    ...(item.lastSessionEnded ? { lastSessionEnded: String(item.lastSessionEnded) } : {}),
  };
}

function toBuild(line: string, item: Record<string, unknown>): BuildRow {
  return {
    line,
    build: String(item.build),
    builtAt: String(item.builtAt),
    flows: Number(item.flows ?? 0),
    devices: memberCount(item, 'device'),
    sessions: memberCount(item, 'session'),
    ...(item.firstSeen ? { firstSeen: String(item.firstSeen) } : {}),
    ...(item.lastSeen ? { lastSeen: String(item.lastSeen) } : {}),
    deniedServices: strings(item.deniedServices),
    deviceIds: deviceSampleOf(item),
  };
}

function toDestination(item: Record<string, unknown>): DestinationRow {
  const optional: Record<string, unknown> = {};
  for (const name of ['service', 'country', 'asOrganisation', 'transportDetail', 'sample'] as const)
    if (item[name] !== undefined) optional[name] = String(item[name]);
  if (item.asn !== undefined) optional.asn = Number(item.asn);
  if (item.flowsWithoutConsent !== undefined) optional.flowsWithoutConsent = Number(item.flowsWithoutConsent);
  if (item.forms) optional.forms = strings(item.forms);
  if (item.where) optional.where = strings(item.where);
  return {
    registrableDomain: String(item.registrableDomain),
    host: String(item.host),
    organisation: String(item.organisation),
    category: String(item.category),
    transport: String(item.transport),
    dataType: String(item.dataType),
    flows: Number(item.flows ?? 0),
    firstSeen: String(item.firstSeen),
    lastSeen: String(item.lastSeen),
    ...optional,
  } as DestinationRow;
}

function toDeviceRun(item: Record<string, unknown>): DeviceRun {
  return {
    deviceId: String(item.deviceId),
    sessionId: String(item.sessionId),
    ...buildOf(item),
    flows: Number(item.flows ?? 0),
    ...(item.firstSeen ? { firstSeen: String(item.firstSeen) } : {}),
    ...(item.lastSeen ? { lastSeen: String(item.lastSeen) } : {}),
    dataTypes: strings(item.dataTypes),
    plaintextDataTypes: strings(item.plaintextDataTypes),
  };
}

function toSent(item: Record<string, unknown>): SentRow {
  return {
    ...buildOf(item),
    host: String(item.host),
    registrableDomain: String(item.registrableDomain),
    transport: String(item.transport),
    dataType: String(item.dataType),
    organisation: String(item.organisation),
    ...(item.country !== undefined ? { country: String(item.country) } : {}),
  };
}
