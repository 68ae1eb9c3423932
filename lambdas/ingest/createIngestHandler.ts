import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import type { ArchiveSink } from '../../core/archive/archiveRow.ts';
import {
  type DeadLetter,
  type DeadLetterSink,
  MAX_DEAD_LETTER_DATA_BYTES,
} from '../../core/ingest/deadLetter.ts';
import { SessionIdCache } from '../../core/ingest/flowIdChunks.ts';
import {
  type BatchEntry,
  type FlowResult,
  type IngestDependencies,
  ingestBatch,
} from '../../core/ingest/ingestBatch.ts';
import { isTransientError } from '../../core/ingest/transientError.ts';
import { FlowRecordError, parseStreamRecord } from '../../schema/flowRecord.ts';
import {
  count,
  METRIC,
  type ObservedDependencies,
  observabilityOf,
  observed,
} from '../shared/observability.ts';

export type { IngestDependencies } from '../../core/ingest/ingestBatch.ts';

export interface IngestHandlerDependencies extends IngestDependencies, ObservedDependencies {
  readonly deadLetters: DeadLetterSink;
  /** Where each flow's archive row goes (Firehose, local Parquet); written at the end of each batch. */
  readonly archive?: ArchiveSink;
}

export type IngestHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse>;

/** The shard a record came from (Lambda's event id is `<shard id>:<sequence number>`). */
const shardOf = (record: KinesisStreamRecord) => record.eventID.slice(0, record.eventID.lastIndexOf(':'));

/**
 * The ingest function: one Kinesis batch of one shard in, aggregated and written exactly once
 * (core/ingest/ingestBatch.ts, docs/ingest-exactly-once.md). A record that is not a valid flow
 * record, or whose processing fails in a way no retry can mend, goes to the dead-letter queue with
 * its reason; a transient failure (throttling, timeouts) fails the batch from its first record
 * (Lambda retries it; the watermarks keep what the try wrote from being counted twice); a
 * session-end record whose run is not all counted yet fails from that record.
 */
export function createIngestHandler(deps: IngestHandlerDependencies): IngestHandler {
  const { obs, log } = observabilityOf('ingest', deps);
  // Each session's flow ids, kept in the execution environment between its invocations.
  const sessionIds = new SessionIdCache(deps.store.client, deps.store.tableName);

  const letter = (
    kinesisRecord: KinesisStreamRecord,
    kind: DeadLetter['kind'],
    reason: string,
    ids: Partial<DeadLetter> = {},
  ): DeadLetter => {
    const data = Buffer.from(kinesisRecord.kinesis.data, 'base64');
    return {
      kind,
      reason,
      ...ids,
      eventSourceArn: kinesisRecord.eventSourceARN,
      eventId: kinesisRecord.eventID,
      sequenceNumber: kinesisRecord.kinesis.sequenceNumber,
      partitionKey: kinesisRecord.kinesis.partitionKey,
      arrivedAt: new Date(kinesisRecord.kinesis.approximateArrivalTimestamp * 1000).toISOString(),
      data: data.subarray(0, MAX_DEAD_LETTER_DATA_BYTES).toString('base64'),
      dataTruncated: data.length > MAX_DEAD_LETTER_DATA_BYTES,
      failedAt: new Date().toISOString(),
    };
  };

  /** One shard's records, in order. */
  const ingestShard = async (
    shardId: string,
    records: readonly KinesisStreamRecord[],
  ): Promise<{ failedAt?: string }> => {
    const entries: BatchEntry[] = [];
    const sources = new Map<BatchEntry, KinesisStreamRecord>();
    for (const kinesisRecord of records) {
      try {
        const record = parseStreamRecord(Buffer.from(kinesisRecord.kinesis.data, 'base64'));
        const entry = { record, sequenceNumber: kinesisRecord.kinesis.sequenceNumber };
        entries.push(entry);
        sources.set(entry, kinesisRecord);
      } catch (error) {
        if (!(error instanceof FlowRecordError)) throw error;
        obs.logger.setCorrelationId(kinesisRecord.eventID);
        await deps.deadLetters.send(letter(kinesisRecord, 'malformed-record', error.message));
        count(obs, METRIC.malformedRecords);
        log({
          level: 'WARN',
          message: 'malformed record sent to dead-letter queue',
          sequenceNumber: kinesisRecord.kinesis.sequenceNumber,
          reason: error.message,
        });
      }
    }
    if (entries.length === 0) return {};
    // The probe session is the correlation id: it ties a lab run's flows, alerts and logs together.
    obs.logger.setCorrelationId(entries[0]!.record.session.id);
    const deadLetter = async (dead: FlowResult) => {
      const reason = dead.dead!.reason;
      await deps.deadLetters.send(
        letter(sources.get(dead.entry)!, 'poison-record', reason, {
          sessionId: dead.record.session.id,
          flowId: dead.record.flow.id,
        }),
      );
      count(obs, METRIC.poisonRecords);
      log({
        level: 'ERROR',
        message: 'flow record cannot be processed: sent to dead-letter queue',
        sequenceNumber: dead.entry.sequenceNumber,
        sessionId: dead.record.session.id,
        flowId: dead.record.flow.id,
        error: dead.dead!.error,
        reason,
      });
    };
    let outcome: Awaited<ReturnType<typeof ingestBatch>>;
    try {
      outcome = await ingestBatch(shardId, entries, { ...deps, sessionIds, deadLetter });
    } catch (error) {
      if (!isTransientError(error)) throw error;
      // Throttling, a timeout: the whole batch again from its first record (no bisecting).
      count(obs, METRIC.failedRecords);
      log({
        level: 'ERROR',
        message: 'batch failed; Lambda retries it',
        shardId,
        records: records.length,
        error: (error as Error).name,
        reason: (error as Error).message,
      });
      return { failedAt: records[0]!.kinesis.sequenceNumber };
    }
    const counted = outcome.flows.filter((f) => f.counted);
    const findings = counted.reduce((sum, f) => sum + (f.classified?.findings.length ?? 0), 0);
    const seenBefore = outcome.flows.filter((f) => !f.counted && !f.dead).length;
    count(obs, METRIC.flowsCounted, counted.length);
    count(obs, METRIC.findings, findings);
    count(obs, METRIC.flowsRepeated, seenBefore);
    count(obs, METRIC.alertsRaised, outcome.alertsRaised);
    count(obs, METRIC.itemWritesRetried, outcome.writes.retried);
    for (const row of outcome.archiveRows) deps.archive?.add(row);
    for (const f of outcome.flows) {
      const cut = f.classified?.decodingsCut ?? 0;
      if (cut > 0) {
        log({
          level: 'INFO',
          message: 'flow classified in part: decodings cut by the per-flow limits',
          flowId: f.record.flow.id,
          build: f.record.firmware.build,
          decodingsCut: cut,
        });
      }
    }
    for (const end of outcome.sessionEnds) {
      count(obs, METRIC.alertsResolved, end.resolved);
      log({
        level: 'INFO',
        message: 'session ended',
        sessionId: end.record.session.id,
        build: end.record.firmware.build,
        flows: end.flows,
        alertsResolved: end.resolved,
        ...(end.deadLettered > 0
          ? {
              deadLettered: end.deadLettered,
              note: 'flows dead-lettered: no alert resolved by this session',
            }
          : {}),
      });
    }
    log({
      level: 'INFO',
      message: 'batch ingested',
      shardId,
      records: records.length,
      flowsCounted: counted.length,
      flowsSeenBefore: seenBefore,
      findings,
      alertsRaised: outcome.alertsRaised,
      sessionsEnded: outcome.sessionEnds.length,
      itemWrites: outcome.writes.items,
      itemWritesRetried: outcome.writes.retried,
    });
    if (outcome.incomplete) {
      count(obs, METRIC.failedRecords);
      log({
        level: 'WARN',
        message: 'session-end record failed; Lambda retries it',
        sequenceNumber: outcome.incomplete.entry.sequenceNumber,
        sessionId: outcome.incomplete.entry.record.session.id,
        error: 'SessionIncompleteError',
        reason: outcome.incomplete.reason,
      });
      return { failedAt: outcome.incomplete.entry.sequenceNumber };
    }
    return {};
  };

  const batchHandler = async (
    event: KinesisStreamEvent,
    _context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    // An event source mapping's batch holds one shard's records; a hand-made event may hold more.
    const shards = new Map<string, KinesisStreamRecord[]>();
    for (const record of event.Records) {
      const shard = shardOf(record);
      const list = shards.get(shard);
      if (list) list.push(record);
      else shards.set(shard, [record]);
    }
    const batchItemFailures: KinesisStreamBatchResponse['batchItemFailures'] = [];
    for (const [shardId, records] of shards) {
      const { failedAt } = await ingestShard(shardId, records);
      if (failedAt) batchItemFailures.push({ itemIdentifier: failedAt });
    }
    // The batch's rows are archived before it is acknowledged. If that fails, the invocation fails
    // and Lambda delivers the whole batch again: the history counts each flow once (watermarks and
    // flow ids), the archive may hold a row twice (its queries count DISTINCT flow_id).
    try {
      await deps.archive?.flush();
    } catch (error) {
      count(obs, METRIC.archiveFailures);
      log({
        level: 'ERROR',
        message: 'archiving the batch failed; Lambda delivers the batch again',
        records: event.Records.length,
        error: (error as Error).name,
        reason: (error as Error).message,
      });
      throw error;
    }
    return { batchItemFailures };
  };

  return observed(batchHandler, obs);
}
