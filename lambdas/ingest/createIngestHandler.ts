import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import type { ArchiveSink } from '../../core/archive/archiveRow.ts';
import { BatchReads } from '../../core/ingest/batchReads.ts';
import {
  type DeadLetter,
  type DeadLetterSink,
  MAX_DEAD_LETTER_DATA_BYTES,
} from '../../core/ingest/deadLetter.ts';
import {
  type IngestDependencies,
  processFlowRecord,
  processSessionEnd,
} from '../../core/ingest/processFlowRecord.ts';
import { isTransientError } from '../../core/ingest/transientError.ts';
import { FlowRecordError, isSessionEnd, parseStreamRecord } from '../../schema/flowRecord.ts';
import {
  count,
  METRIC,
  type ObservedDependencies,
  observabilityOf,
  observed,
} from '../shared/observability.ts';

export interface IngestHandlerDependencies extends IngestDependencies, ObservedDependencies {
  readonly deadLetters: DeadLetterSink;
  /** Where each flow's archive row goes (Firehose, local Parquet); written at the end of each batch. */
  readonly archive?: ArchiveSink;
}

export type IngestHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse>;

/**
 * The ingest function: a Kinesis batch in, partial batch failures out (Powertools batch processor,
 * records processed in order). A record that is not a valid flow record, or whose processing fails
 * in a way no retry can mend (core/ingest/transientError.ts), is sent to the dead-letter queue with
 * its reason and counts as handled, so it neither blocks the shard nor fails its batch; a transient
 * error (throttling, timeouts, service faults) fails only that record, which Lambda retries.
 */
export function createIngestHandler(deps: IngestHandlerDependencies): IngestHandler {
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  const { obs, log } = observabilityOf('ingest', deps);

  // An environment runs one invocation at a time; each invocation gets its own shared reads (batchHandler).
  let batchReads = new BatchReads(deps.store);
  const recordHandler = async (kinesisRecord: KinesisStreamRecord): Promise<void> => {
    const { kinesis } = kinesisRecord;
    const data = Buffer.from(kinesis.data, 'base64');
    const deadLetter = (kind: DeadLetter['kind'], reason: string, ids: Partial<DeadLetter> = {}) =>
      deps.deadLetters.send({
        kind,
        reason,
        ...ids,
        eventSourceArn: kinesisRecord.eventSourceARN,
        eventId: kinesisRecord.eventID,
        sequenceNumber: kinesis.sequenceNumber,
        partitionKey: kinesis.partitionKey,
        arrivedAt: new Date(kinesis.approximateArrivalTimestamp * 1000).toISOString(),
        data: data.subarray(0, MAX_DEAD_LETTER_DATA_BYTES).toString('base64'),
        dataTruncated: data.length > MAX_DEAD_LETTER_DATA_BYTES,
        failedAt: new Date().toISOString(),
      });
    let record: ReturnType<typeof parseStreamRecord>;
    try {
      record = parseStreamRecord(data);
    } catch (error) {
      if (!(error instanceof FlowRecordError)) throw error;
      obs.logger.setCorrelationId(kinesisRecord.eventID);
      await deadLetter('malformed-record', error.message);
      count(obs, METRIC.malformedRecords);
      log({
        level: 'WARN',
        message: 'malformed record sent to dead-letter queue',
        sequenceNumber: kinesis.sequenceNumber,
        reason: error.message,
      });
      return;
    }
    // The probe session is the correlation id: it ties a lab run's flows, alerts and logs together.
    obs.logger.setCorrelationId(record.session.id);
    const ids = {
      sessionId: record.session.id,
      ...(isSessionEnd(record) ? {} : { flowId: record.flow.id }),
    };
    // A transient failure fails the record (Lambda retries it); any other would fail on every retry,
    // so the record goes to the dead-letter queue with its reason and the shard moves on.
    const failed = async (error: unknown, what: string): Promise<void> => {
      const reason = `${(error as Error).name}: ${(error as Error).message}`;
      if (isTransientError(error)) {
        count(obs, METRIC.failedRecords);
        log({
          level: (error as Error).name === 'SessionIncompleteError' ? 'WARN' : 'ERROR',
          message: `${what} failed; Lambda retries it`,
          sequenceNumber: kinesis.sequenceNumber,
          ...ids,
          error: (error as Error).name,
          reason: (error as Error).message,
        });
        throw error;
      }
      // Its probe run counts it as settled first (once per flow), so the session can end.
      if (!isSessionEnd(record))
        await deps.store.recordDeadLetteredFlow(
          {
            flowId: record.flow.id,
            deviceId: record.device.id,
            sessionId: record.session.id,
            run: record.probe.run,
          },
          reason,
          (deps.clock ?? (() => new Date()))(),
        );
      await deadLetter('poison-record', reason, ids);
      count(obs, METRIC.poisonRecords);
      log({
        level: 'ERROR',
        message: `${what} cannot be processed: sent to dead-letter queue`,
        sequenceNumber: kinesis.sequenceNumber,
        ...ids,
        error: (error as Error).name,
        reason: (error as Error).message,
      });
    };
    if (isSessionEnd(record)) {
      let settled: Awaited<ReturnType<typeof processSessionEnd>>;
      try {
        settled = await processSessionEnd(record, deps);
      } catch (error) {
        return failed(error, 'session-end record');
      } finally {
        // It may have resolved alerts of the line.
        batchReads.clear();
      }
      count(obs, METRIC.alertsResolved, settled.resolved);
      log({
        level: 'INFO',
        message: 'session ended',
        sessionId: record.session.id,
        build: record.firmware.build,
        flows: settled.flows,
        alertsResolved: settled.resolved,
        ...(settled.deadLettered > 0
          ? {
              deadLettered: settled.deadLettered,
              note: 'flows dead-lettered: no alert resolved by this session',
            }
          : {}),
      });
      return;
    }
    let outcome: Awaited<ReturnType<typeof processFlowRecord>>;
    try {
      outcome = await processFlowRecord(record, { ...deps, batchReads });
    } catch (error) {
      return failed(error, 'flow record');
    }
    deps.archive?.add(outcome.archiveRow);
    if (outcome.counted) {
      count(obs, METRIC.flowsCounted);
      count(obs, METRIC.findings, outcome.findings.length);
      count(obs, METRIC.alertsRaised, outcome.alertsRaised);
    } else {
      count(obs, METRIC.flowsRepeated);
    }
    if (
      outcome.findings.length > 0 ||
      outcome.alertsRaised > 0 ||
      !outcome.counted ||
      outcome.decodingsCut > 0
    ) {
      log({
        level: 'INFO',
        message: 'flow processed',
        flowId: record.flow.id,
        build: record.firmware.build,
        counted: outcome.counted,
        findings: outcome.findings.map((f) => `${f.dataType}@${f.where}`),
        alertsRaised: outcome.alertsRaised,
        ...(outcome.decodingsCut > 0 ? { decodingsCut: outcome.decodingsCut } : {}),
      });
    }
  };

  const batchHandler = async (
    event: KinesisStreamEvent,
    context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    batchReads = new BatchReads(deps.store);
    const response = await processPartialResponse(event, recordHandler, processor, {
      context,
      processInParallel: false,
    });
    // The batch's rows are archived before it is acknowledged. If that fails, the invocation fails
    // and Lambda delivers the whole batch again: the history counts each flow once (flow markers),
    // the archive may hold a row twice (its queries count DISTINCT flow_id).
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
    return response;
  };

  return observed(batchHandler, obs);
}
