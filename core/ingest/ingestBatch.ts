import type { FlowRecord, SessionEndRecord, StreamRecord } from '../../schema/flowRecord.ts';
import { isSessionEnd } from '../../schema/flowRecord.ts';
import type { StoredAlert } from '../alerts/alert.ts';
import { isSuppressing } from '../alerts/alert.ts';
import { type BuildFacts, conditionsOf, isNewAgainst, resolvedBy } from '../alerts/rules.ts';
import { type ArchiveRow, archiveRowOf } from '../archive/archiveRow.ts';
import { getOrCreate } from '../maps.ts';
import { alertIdOf, keys, lineKey } from '../store/keys.ts';
import type { LeakwatchStore } from '../store/leakwatchStore.ts';
import { type AggregateWrite, applyWatermarked, encodeSequence } from '../store/watermark.ts';
import { type ClassifiedFlow, type ClassifyDependencies, classifyFlow } from './classifyFlow.ts';
import { groupParts, type ItemPart, isRunItem, partsOf } from './contributions.ts';
import { type ChunkEntry, IdState, idPrefix, type SessionIdCache, type SessionIds } from './flowIdChunks.ts';
import { isTransientError } from './transientError.ts';

export interface IngestDependencies extends ClassifyDependencies {
  readonly store: LeakwatchStore;
  /** How many previous builds of a line form a build's baseline. @default 1 */
  readonly baselineBuilds?: number;
  readonly clock?: () => Date;
}

/** A parsed record of the batch, with where it sits in its shard. */
export interface BatchEntry {
  readonly record: StreamRecord;
  /** Kinesis sequence number (decimal). */
  readonly sequenceNumber: string;
}

/** What became of one flow record of the batch. */
export interface FlowResult {
  readonly entry: BatchEntry;
  readonly record: FlowRecord;
  /** Counted into its build (false: seen before in its session, or dead-lettered). */
  counted: boolean;
  /** Counted for its probe run (the session-end record waits for the run's flows). */
  settles: boolean;
  /** Could not be processed for good: to the dead-letter queue with `reason`. */
  dead?: { reason: string; error: string };
  classified?: ClassifiedFlow;
}

export interface SessionEndResult {
  readonly entry: BatchEntry;
  readonly record: SessionEndRecord;
  readonly flows: number;
  readonly resolved: number;
  readonly deadLettered: number;
}

export interface BatchOutcome {
  readonly flows: FlowResult[];
  readonly sessionEnds: SessionEndResult[];
  readonly alertsRaised: number;
  readonly archiveRows: ArchiveRow[];
  /** A session-end record whose run is not complete yet: Lambda retries from it. */
  readonly incomplete?: { entry: BatchEntry; reason: string };
  /** Aggregate item writes, and those a watermark refused first (a retry's overlap). */
  readonly writes: { items: number; retried: number };
}

/** Thrown with the reason a session end must wait (its run is not all settled yet). */
export class SessionIncompleteError extends Error {
  override name = 'SessionIncompleteError';
}

/** How many item writes are in flight at once. */
const WRITE_CONCURRENCY = 32;

/**
 * One batch of one shard, exactly once (docs/ingest-exactly-once.md):
 * 1. every flow record is classified and judged against its session's flow ids (chunks, and the
 *    batch's earlier records): counted for its build, settled for its run, both, or neither;
 * 2. each item the batch touches is written once with the batch's summed delta and the shard's
 *    watermark (the runs' items first; a record an item refuses for good is isolated by halving
 *    and dead-lettered);
 * 3. the dead letters are sent, then each session's flow-id chunk is written;
 * 4. the alert rules run on the batch's flows in order, with each line's alerts read once, and each
 *    session-end record is settled where it stands.
 * A failure before 3 leaves no chunk, so a retry (whatever its boundaries) judges every record as
 * this try did and the watermarks keep each item from taking a record twice.
 */
export async function ingestBatch(
  shardId: string,
  entries: readonly BatchEntry[],
  deps: IngestDependencies & {
    readonly sessionIds: SessionIdCache;
    readonly deadLetter: (result: FlowResult) => Promise<void>;
  },
): Promise<BatchOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
  const sequences = new Map(entries.map((e) => [e, encodeSequence(e.sequenceNumber)]));
  // 1. Sessions' flow ids (one Query per session, usually empty), then classify and judge in order.
  const sessionsOf = new Map<string, Promise<SessionIds>>();
  const session = (r: StreamRecord) =>
    getOrCreate(sessionsOf, keys.session(r.device.id, r.session.id), () =>
      deps.sessionIds.load(r.device.id, r.session.id),
    );
  for (const { record } of entries) void session(record).catch(() => undefined);
  const knownValues = new Map<string, ReturnType<NonNullable<ClassifyDependencies['knownValues']>>>();
  const classifyDeps: ClassifyDependencies = {
    ...deps,
    ...(deps.knownValues
      ? {
          knownValues: (deviceId: string) =>
            getOrCreate(knownValues, deviceId, () => deps.knownValues!(deviceId)),
        }
      : {}),
  };
  const flowEntries = entries.filter((e) => !isSessionEnd(e.record));
  const classified = await Promise.all(
    flowEntries.map(async (entry) => {
      try {
        return { classified: await classifyFlow(entry.record as FlowRecord, classifyDeps) };
      } catch (error) {
        if (isTransientError(error)) throw error;
        return { error: error as Error };
      }
    }),
  );
  // What the batch itself adds to each session's ids, apart from the cache until its chunks are written.
  const batchCounted = new Map<string, Set<string>>();
  const batchSettled = new Map<string, Set<string>>();
  const flows: FlowResult[] = [];
  for (const [i, entry] of flowEntries.entries()) {
    const record = entry.record as FlowRecord;
    const known = await session(record);
    const sessionKey = keys.session(record.device.id, record.session.id);
    const id = idPrefix(record.flow.id);
    const counted = getOrCreate(batchCounted, sessionKey, () => new Set<string>());
    const run = record.probe.run;
    const settled = run
      ? getOrCreate(batchSettled, `${sessionKey}\u0000${run}`, () => new Set<string>())
      : undefined;
    const result: FlowResult = {
      entry,
      record,
      counted: !known.counted.has(id) && !counted.has(id),
      settles: run !== undefined && !known.settledIn(run).has(id) && !settled!.has(id),
    };
    const { classified: flow, error } = classified[i]!;
    if (flow) result.classified = flow;
    else {
      result.dead = { reason: `${error!.name}: ${error!.message}`, error: error!.name };
      result.counted = false;
    }
    if (result.counted) counted.add(id);
    if (result.settles) settled!.add(id);
    flows.push(result);
  }

  // 2. The aggregate writes.
  const writes = { items: 0, retried: 0 };
  const write = async (batch: AggregateWrite[], range: { first: string; last: string }, shard = shardId) => {
    await pool(batch, WRITE_CONCURRENCY, async (w) => {
      const result = await applyWatermarked(deps.store.client, deps.store.tableName, shard, range, w);
      writes.items++;
      writes.retried += result.retries;
    });
  };
  const partsFor = (r: FlowResult): ItemPart[] =>
    partsOf(r.record, sequences.get(r.entry)!, r.classified, {
      counted: r.counted,
      settles: r.settles,
      dead: r.dead !== undefined,
    });
  /** Writes the records [from, to) of the batch; a write refused for good is narrowed down to its record. */
  const writeRange = async (from: number, to: number): Promise<void> => {
    const range = { first: sequences.get(entries[from]!)!, last: sequences.get(entries[to - 1]!)! };
    const inRange = flows.filter((f) => {
      const at = position.get(f.entry)!;
      return at >= from && at < to;
    });
    const parts = inRange.flatMap(partsFor);
    let runsWritten = false;
    try {
      await write(groupParts(parts.filter(isRunItem)), range);
      runsWritten = true;
      await write(groupParts(parts.filter((p) => !isRunItem(p))), range);
    } catch (error) {
      // Only the service's refusal of a request (a client fault such as ValidationException) is
      // narrowed down to a record; anything else fails the invocation, and Lambda retries it.
      if (isTransientError(error) || (error as { $fault?: string }).$fault !== 'client') throw error;
      const contributing = inRange.filter((f) => f.counted || f.settles);
      if (contributing.length > 1) {
        const middle = position.get(contributing[Math.floor(contributing.length / 2)]!.entry)!;
        await writeRange(from, middle);
        await writeRange(middle, to);
        return;
      }
      const poisoned = contributing[0];
      if (!poisoned || poisoned.dead) throw error;
      // The one record an item refuses for good: dead-lettered, and settled for its run as such.
      poisoned.dead = {
        reason: `${(error as Error).name}: ${(error as Error).message}`,
        error: (error as Error).name,
      };
      poisoned.counted = false;
      const runParts = partsFor(poisoned);
      if (!runsWritten) await write(groupParts(runParts), range);
      else if (runParts.length > 0) {
        // Its run took it already (an item of its build refused it; the items written before the
        // refusal keep what they took: atomicity is per item): only the dead-letter mark, under a
        // watermark of its own so a retry adds it once.
        const [run] = runParts;
        await write(
          groupParts([
            { ...run!, contribution: { sequence: run!.contribution.sequence, add: { deadLettered: 1 } } },
          ]),
          range,
          `${shardId}-dead`,
        );
      }
    }
  };
  const position = new Map(entries.map((e, i) => [e, i]));
  if (entries.length > 0) await writeRange(0, entries.length);

  // 3. Dead letters (at least once), then the flow-id chunks.
  for (const dead of flows.filter((f) => f.dead)) await deps.deadLetter(dead);
  const chunks = new Map<string, { record: FlowRecord; run: string; first: string; entries: ChunkEntry[] }>();
  for (const f of flows) {
    const state = f.counted
      ? f.settles || !f.record.probe.run
        ? IdState.Counted
        : IdState.Recounted
      : f.settles
        ? f.dead
          ? IdState.Dead
          : IdState.Settled
        : undefined;
    if (state === undefined) continue;
    const run = f.record.probe.run ?? '';
    const id = `${f.record.device.id}\u0000${f.record.session.id}\u0000${run}`;
    let chunk = chunks.get(id);
    if (!chunk) {
      chunk = { record: f.record, run, first: sequences.get(f.entry)!, entries: [] };
      chunks.set(id, chunk);
    }
    chunk.entries.push({ id: idPrefix(f.record.flow.id), state });
  }
  await pool([...chunks.values()], WRITE_CONCURRENCY, (c) =>
    deps.sessionIds.write(
      {
        deviceId: c.record.device.id,
        sessionId: c.record.session.id,
        run: c.run,
        sequence: c.first,
        shardId,
      },
      c.entries,
      now,
    ),
  );

  // 4. Alerts and session ends, in the batch's order.
  const alerts = new BatchAlerts(deps, now);
  const sessionEnds: SessionEndResult[] = [];
  const archiveRows: ArchiveRow[] = [];
  const byEntry = new Map(flows.map((f) => [f.entry, f]));
  let incomplete: BatchOutcome['incomplete'];
  for (const entry of entries) {
    if (isSessionEnd(entry.record)) {
      try {
        sessionEnds.push(await settleSession(shardId, entry, entry.record, deps, alerts, now));
      } catch (error) {
        if (!(error instanceof SessionIncompleteError)) throw error;
        incomplete = { entry, reason: error.message };
        break;
      }
      continue;
    }
    const f = byEntry.get(entry)!;
    if (f.dead || !f.classified) continue;
    archiveRows.push(
      archiveRowOf(
        f.record,
        f.classified.destination,
        f.classified.findings,
        f.classified.withoutConsent,
        now,
      ),
    );
    // Rules run on every delivery, counted or not: every write is conditional, and a crash after
    // the counts were written must not lose an alert.
    if (f.classified.flowObservations.length > 0) await alerts.evaluate(f.record, f.classified);
  }
  return {
    flows,
    sessionEnds,
    alertsRaised: alerts.raised,
    archiveRows,
    ...(incomplete ? { incomplete } : {}),
    writes,
  };
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure) throw failure.error;
}

/**
 * The alerts a batch reads and writes: each line's alerts read once (one Query), each build's
 * baseline once; what the batch writes of an alert it keeps (a write its condition refused reads
 * the alert again).
 */
class BatchAlerts {
  raised = 0;
  private readonly lines = new Map<string, Promise<Map<string, StoredAlert>>>();
  private readonly baselines = new Map<string, Promise<BuildFacts[]>>();

  constructor(
    private readonly deps: IngestDependencies,
    private readonly now: Date,
  ) {}

  alertsOf(line: string): Promise<Map<string, StoredAlert>> {
    return getOrCreate(this.lines, line, () =>
      this.deps.store.alerts
        .alertsOfLine(line)
        .then((list) => new Map(list.map((a) => [keys.alert(line, a).sk, a]))),
    );
  }

  /** A session end resolved alerts of the line: read them again when next needed. */
  forget(line: string): void {
    this.lines.delete(line);
  }

  private baseline(line: string, firmware: { build: string; builtAt: string }): Promise<BuildFacts[]> {
    return getOrCreate(this.baselines, `${line}\u0000${firmware.build}`, async () => {
      const { builds } = this.deps.store;
      const previous = await builds.previousBuilds(
        line,
        firmware,
        Math.max(1, this.deps.baselineBuilds ?? 1),
      );
      return Promise.all(previous.map((build) => builds.buildFacts(line, build)));
    });
  }

  /**
   * A condition with no alert yet raises one if it is new against the baseline; an existing alert
   * is marked as seen in this build, or reopened when this build comes after the one that resolved it.
   */
  async evaluate(record: FlowRecord, flow: ClassifiedFlow): Promise<void> {
    const { store } = this.deps;
    const line = flow.line;
    const alerts = await this.alertsOf(line);
    for (const { rule, subject, alert } of conditionsOf(
      record,
      flow.destination,
      flow.flowObservations,
      this.now,
    )) {
      const sk = keys.alert(line, alert).sk;
      const existing = alerts.get(sk);
      const build = record.firmware.build;
      // What this batch writes it also keeps, so the next flow needs no read; a write that finds
      // the alert changed by someone else (a condition failed) reads it again.
      let changed: StoredAlert | undefined;
      let stale = false;
      if (existing) {
        if (
          existing.state === 'resolved' &&
          existing.resolvedInBuiltAt !== undefined &&
          record.firmware.builtAt >= existing.resolvedInBuiltAt
        ) {
          if (
            await store.alerts.reopenAlert(
              line,
              existing,
              record.firmware,
              this.now,
              !isSuppressing(existing.verification),
            )
          ) {
            this.raised++;
            changed = {
              ...existing,
              state: 'open',
              reopenedIn: build,
              reopenedAt: this.now.toISOString(),
              seenInBuilds: new Set([...(existing.seenInBuilds ?? []), build]),
            } as StoredAlert;
          } else stale = true;
        } else if (!existing.seenInBuilds?.has(build) && existing.lastSeenInBuild !== build) {
          await store.alerts.alertSeenIn(line, existing, build);
          changed = {
            ...existing,
            lastSeenInBuild: build,
            seenInBuilds: new Set([...(existing.seenInBuilds ?? []), build]),
          };
        }
      } else {
        const baseline = await this.baseline(line, record.firmware);
        if (!isNewAgainst(rule, baseline, subject, alert.dataType)) continue;
        const raised = { ...alert, baselineBuilds: baseline.map((b) => b.build) };
        if (await store.alerts.createAlert(line, raised, this.now)) {
          this.raised++;
          changed = {
            ...raised,
            alertId: alertIdOf(line, raised),
            lineKey: line,
            state: 'open',
            seenInBuilds: new Set([build]),
            verification: 'unknown',
          };
        } else stale = true;
      }
      if (stale) changed = await store.alerts.getAlert(line, alert);
      if (changed) alerts.set(sk, changed);
    }
  }
}

/**
 * A probe run of a lab session has ended: once all its flows are settled, every open alert of the
 * line raised in an earlier build that this build no longer shows is resolved in this build (with a
 * follow-up notification, unless the lab's verdict suppresses the alert).
 */
async function settleSession(
  shardId: string,
  entry: BatchEntry,
  record: SessionEndRecord,
  deps: IngestDependencies,
  alerts: BatchAlerts,
  now: Date,
): Promise<SessionEndResult> {
  const { store } = deps;
  const line = lineKey(record.device, record.firmware);
  const { flows: settled, deadLettered } = await store.builds.sessionRun(
    record.device.id,
    record.session.id,
    record.probe.run,
  );
  if (settled < record.flows) {
    throw new SessionIncompleteError(
      `session ${record.session.id} (probe run ${record.probe.run}): ${settled} of ${record.flows} flow records counted so far; the session-end record is retried until all are`,
    );
  }
  const build = await store.builds.getBuild(line, record.firmware);
  await store.builds.sessionEnded(
    line,
    { vendor: record.device.vendor, model: record.device.model, lineName: record.firmware.line },
    {
      build: record.firmware.build,
      builtAt: record.firmware.builtAt,
      deviceId: record.device.id,
      sessionId: record.session.id,
      buildExists: build !== null,
    },
    { shardId, sequenceNumber: entry.sequenceNumber, now },
  );
  const result = { entry, record, flows: record.flows, deadLettered };
  // A session that sent nothing says nothing about what the build does; one with dead-lettered
  // flows may have lost what an alert is about (a redrive and a later session can resolve it).
  if (record.flows === 0 || deadLettered > 0 || !build) return { ...result, resolved: 0 };
  const facts = await store.builds.buildFacts(line, build);
  let resolved = 0;
  for (const alert of (await alerts.alertsOf(line)).values()) {
    if (alert.state !== 'open' || alert.builtAt >= record.firmware.builtAt) continue;
    if (!resolvedBy(facts, alert)) continue;
    if (
      await store.alerts.resolveAlert(line, alert, record.firmware, now, !isSuppressing(alert.verification))
    )
      resolved++;
  }
  if (resolved > 0) alerts.forget(line);
  return { ...result, resolved };
}
