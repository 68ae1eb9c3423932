import { createHash, randomBytes } from 'node:crypto';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { ArchiveRow, ArchiveSink } from '../../core/archive/archiveRow.ts';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import { SqsDeadLetterSink } from '../../core/ingest/deadLetter.ts';
import { decodeChunk, IdState, idPrefix } from '../../core/ingest/flowIdChunks.ts';
import { KnownValueIndex, registration } from '../../core/registry/knownValues.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import { CountingMetrics, METRIC, observability } from '../../lambdas/shared/observability.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { CapturingLogger } from '../helpers/capturingLogger.ts';
import { probeScenario } from '../helpers/scenario.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

function handler(extra: Partial<Parameters<typeof createIngestHandler>[0]> = {}) {
  return createIngestHandler({
    ...extra,
    store: new LeakwatchStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'history'),
    deadLetters: new SqsDeadLetterSink(
      new SQSClient({}),
      'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
    ),
    catalog: new DestinationCatalog(BUNDLED_CATALOG),
    log: () => undefined,
    observability: observability('ingest', { metrics: new CountingMetrics({ namespace: 'Test' }) }),
  });
}

function event(payloads: (FlowRecord | string)[]): KinesisStreamEvent {
  return {
    Records: payloads.map((payload, i) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'lab-redmi1s-01',
        sequenceNumber: `4968${i}`,
        data: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64'),
        approximateArrivalTimestamp: 1_700_000_000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:4968${i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/ingest',
      awsRegion: 'eu-west-1',
      eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/flows',
    })),
  };
}
const context = {
  functionName: 'ingest',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

describe('ingest handler', () => {
  beforeEach(() => {
    dynamo.reset();
    sqs.reset();
    dynamo.on(TransactWriteCommand).resolves({});
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(GetCommand).resolves({});
    dynamo.on(UpdateCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'd' });
  });

  it('sends a malformed record to the dead-letter queue with its reason and processes the rest', async () => {
    const [dns, , tls] = await probeScenario('build-1');

    const response = await handler()(event([dns!, '{"schemaVersion":1,"device":{}}', tls!]), context);

    expect(response).toEqual({ batchItemFailures: [] });
    const letters = sqs.commandCalls(SendMessageCommand).map((c) => JSON.parse(c.args[0].input.MessageBody!));
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      kind: 'malformed-record',
      sequenceNumber: '49681',
      partitionKey: 'lab-redmi1s-01',
    });
    expect(letters[0].reason).toMatch(/^record failed schema v1: device\.id: /);
    expect(Buffer.from(letters[0].data, 'base64').toString()).toBe('{"schemaVersion":1,"device":{}}');
    // The two flows counted in one write per item (no transaction), then one flow-id chunk.
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(0);
    const builds = dynamo
      .commandCalls(UpdateCommand)
      .filter((c) => String(c.args[0].input.Key!.sk).startsWith('BUILD#'));
    expect(builds).toHaveLength(1);
    expect(Object.values(builds[0]!.args[0].input.ExpressionAttributeValues!)).toContain(2);
    const chunks = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item!);
    expect(chunks).toHaveLength(1);
    expect(decodeChunk(chunks[0]!.ids)).toEqual([
      { id: idPrefix(dns!.flow.id), state: IdState.Counted },
      { id: idPrefix(tls!.flow.id), state: IdState.Counted },
    ]);
  });

  it('a throttled write fails the batch from its first record (no bisecting), and writes no flow-id chunk', async () => {
    const [first, second] = await probeScenario('build-1');
    dynamo
      .on(UpdateCommand)
      .rejectsOnce(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }))
      .resolves({});

    const response = await handler()(event([first!, second!]), context);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '49680' }] });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(dynamo.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('sends a record whose processing fails for good (a client fault, a bug) to the dead-letter queue with the error, and goes on', async () => {
    const [, , first, second] = await probeScenario('build-1');
    const validation = Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
      name: 'ValidationException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    // The observation of the first flow's destination refuses every write; the batch is halved
    // until that record is alone, which goes to the dead-letter queue.
    dynamo.on(UpdateCommand).callsFake((input: { Key: { sk: string } }) => {
      if (input.Key.sk.includes('#api.account.xiaomi.com#')) throw validation;
      return {};
    });

    const response = await handler()(event([first!, second!]), context);

    expect(response).toEqual({ batchItemFailures: [] });
    const letters = sqs.commandCalls(SendMessageCommand).map((c) => JSON.parse(c.args[0].input.MessageBody!));
    expect(letters).toEqual([
      expect.objectContaining({
        kind: 'poison-record',
        reason: 'ValidationException: Item size has exceeded the maximum allowed size',
        flowId: first!.flow.id,
        sessionId: first!.session.id,
        sequenceNumber: '49680',
        data: Buffer.from(JSON.stringify(first)).toString('base64'),
      }),
    ]);
    const chunk = decodeChunk(dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item!.ids);
    expect(chunk).toEqual([{ id: idPrefix(second!.flow.id), state: IdState.Counted }]);
  });

  it('writes each new alert together with its event and the notification it joins (the outbox); ingest publishes nothing', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;

    await handler()(event([register]), context);

    // Counting takes no transaction: every transaction is an alert with its notification.
    const alertWrites = dynamo.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems!);
    // IMEI, phone number, carrier name × plaintext-begins, sent-without-consent (no baseline build
    // yet, so no new-organisation; no country database in this test).
    expect(alertWrites).toHaveLength(6);
    for (const items of alertWrites) {
      const alert = items[0]!.Put!.Item!;
      const alertEvent = items[2]!.Put!.Item!;
      const joins = items[3]!.Update!;
      expect(alert.type).toBe('alert');
      expect(alertEvent).toMatchObject({ pk: 'OUTBOX', type: 'alert-event', event: 'opened' });
      expect(alertEvent.alert.alertId).toBe(alert.alertId);
      // The event joins its notification: one per line, build, organisation and event.
      expect(joins.Key).toEqual({ pk: 'OUTBOX', sk: `NOTE#${alertEvent.notificationId}` });
      expect(Object.values(joins.ExpressionAttributeValues!)).toContainEqual(new Set([alertEvent.eventId]));
      expect(JSON.stringify(items)).not.toContain('864690020123454');
    }
    expect(alertWrites.map((items) => items[0]!.Put!.Item!.dataType).sort()).toEqual([
      'carrier-name',
      'carrier-name',
      'imei',
      'imei',
      'phone-number',
      'phone-number',
    ]);
  });

  it('a hash of a registered IMEI sent in plaintext raises hashed-in-plaintext', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;
    const md5 = createHash('md5').update('864690020123454').digest('hex');
    const hashed = {
      ...register,
      candidates: [{ request: 0, location: 'form' as const, key: 'h', value: md5, shape: 'hex' as const }],
    };
    const key = randomBytes(32);
    const values = [{ dataType: 'imei' as const, value: '864690020123454' }];
    const { digests, plainLengths } = registration(key, values);
    const known = new KnownValueIndex(key, digests, plainLengths);

    await handler({ knownValues: () => known })(event([hashed]), context);

    const alerts = dynamo
      .commandCalls(TransactWriteCommand)
      .map((c) => c.args[0].input.TransactItems![0]!.Put!.Item!);
    expect(alerts.map((a) => a.rule).sort()).toEqual([
      'hashed-in-plaintext',
      'plaintext-begins',
      'sent-without-consent',
    ]);
    expect(alerts.find((a) => a.rule === 'hashed-in-plaintext')).toMatchObject({
      dataType: 'imei',
      encodings: ['md5-hex'],
      masked: expect.stringMatching(/^md5-hex\(/),
    });
  });

  it('fails a session-end record whose flows are not all counted yet, so Lambda retries it', async () => {
    const [first] = await probeScenario('build-2');
    const end = {
      schemaVersion: 1,
      kind: 'session-end',
      device: first!.device,
      firmware: first!.firmware,
      session: first!.session,
      endedAt: '2026-01-01T00:00:00.000Z',
      flows: 6,
      probe: { version: '0.1.0', run: 'r1' },
    };
    dynamo.on(GetCommand).resolves({ Item: { flows: 5 } });

    expect(await handler()(event([JSON.stringify(end)]), context)).toEqual({
      batchItemFailures: [{ itemIdentifier: '49680' }],
    });
    dynamo.on(GetCommand).resolves({ Item: { flows: 6 } });
    expect(await handler()(event([JSON.stringify(end)]), context)).toEqual({ batchItemFailures: [] });
  });

  it('archives a row per flow record at the end of the batch: masked values only, never the value', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;
    const added: ArchiveRow[] = [];
    const flushed: number[] = [];
    const archive: ArchiveSink = {
      add: (row) => added.push(row),
      flush: async () => {
        flushed.push(added.length);
      },
    };

    await handler({ archive })(event([records[0]!, register, '{"not":"a record"}']), context);

    // Two flow records, one malformed (dead-lettered, not archived); one flush after both.
    expect(added.map((r) => r.flow_id)).toEqual([records[0]!.flow.id, register.flow.id]);
    expect(flushed).toEqual([2]);
    const row = added[1]!;
    expect(row).toMatchObject({
      model_name: 'RedMi 1S',
      model: 'redmi-1s',
      dt: register.flow.startedAt.slice(0, 10),
      build: register.firmware.build,
      transport: 'plaintext',
      personal_data: true,
    });
    expect(row.data_types).toEqual(expect.arrayContaining(['imei', 'phone-number']));
    expect(row.findings.every((f) => f.masked.includes('•'))).toBe(true);
    expect(JSON.stringify(added)).not.toContain('864690020123454');
  });

  it('fails the whole invocation when the archive cannot take the batch, so Lambda delivers it again', async () => {
    const [first] = await probeScenario('build-1');
    const archive: ArchiveSink = {
      add: () => undefined,
      flush: async () => {
        throw new Error('Firehose unavailable');
      },
    };

    await expect(handler({ archive })(event([first!]), context)).rejects.toThrow('Firehose unavailable');
  });

  it('an alert that exists already gets no second alert and no second notification', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;
    await handler()(event([register]), context);
    const created = dynamo
      .commandCalls(TransactWriteCommand)
      .map((c) => c.args[0].input.TransactItems![0]!.Put!.Item!);
    expect(created).toHaveLength(6);
    // Delivered again: the line's alerts (one Query per batch) hold them all.
    dynamo.resetHistory();
    dynamo.on(QueryCommand).callsFake((input: { ExpressionAttributeValues: Record<string, string> }) => ({
      Items: input.ExpressionAttributeValues[':pk']!.startsWith('ALERTS#') ? created : [],
    }));

    await handler()(event([register]), context);

    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(0);
    const alertUpdates = dynamo
      .commandCalls(UpdateCommand)
      .filter((c) => String(c.args[0].input.Key!.pk).startsWith('ALERTS#'));
    expect(alertUpdates).toHaveLength(0);
    const alertQueries = dynamo
      .commandCalls(QueryCommand)
      .filter((c) => String(c.args[0].input.ExpressionAttributeValues![':pk']).startsWith('ALERTS#'));
    expect(alertQueries).toHaveLength(1);
  });
  it('publishes Powertools metrics per invocation and logs through the Powertools logger with the session as correlation id', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;
    const metrics = new CountingMetrics({ namespace: 'Leakwatch/Test', serviceName: 'leakwatch-ingest' });
    const logger = new CapturingLogger({ serviceName: 'leakwatch-ingest' });
    const obs = observability('ingest', { metrics, logger });
    {
      const ingest = createIngestHandler({
        store: new LeakwatchStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'history'),
        deadLetters: new SqsDeadLetterSink(new SQSClient({}), 'https://sqs.eu-west-1.amazonaws.com/1/dlq'),
        catalog: new DestinationCatalog(BUNDLED_CATALOG),
        observability: obs,
      });
      await ingest(event([register, 'not json']), context);
      // The same flow put again (a new sequence number), in another execution environment: its
      // session's flow-id chunk holds it, so it is not counted twice.
      const chunk = dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item!;
      const alerts = dynamo
        .commandCalls(TransactWriteCommand)
        .map((c) => c.args[0].input.TransactItems![0]!.Put!.Item!);
      dynamo.on(QueryCommand).callsFake((input: { ExpressionAttributeValues: Record<string, string> }) => {
        const pk = input.ExpressionAttributeValues[':pk']!;
        return { Items: pk.startsWith('SESSION#') ? [chunk] : pk.startsWith('ALERTS#') ? alerts : [] };
      });
      const again = event([register]);
      again.Records[0]!.kinesis.sequenceNumber = '49690';
      again.Records[0]!.eventID = 'shardId-000000000000:49690';
      await createIngestHandler({
        store: new LeakwatchStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'history'),
        deadLetters: new SqsDeadLetterSink(new SQSClient({}), 'https://sqs.eu-west-1.amazonaws.com/1/dlq'),
        catalog: new DestinationCatalog(BUNDLED_CATALOG),
        observability: obs,
      })(again, context);
    }
    expect(metrics.published).toHaveLength(2);
    expect(metrics.published[0]!._aws.CloudWatchMetrics[0]!.Namespace).toBe('Leakwatch/Test');
    expect(metrics.totals).toMatchObject({
      [METRIC.flowsCounted]: 1,
      [METRIC.findings]: expect.any(Number),
      [METRIC.alertsRaised]: 6,
      [METRIC.malformedRecords]: 1,
      [METRIC.flowsRepeated]: 1,
    });
    expect(metrics.totals[METRIC.findings]).toBeGreaterThanOrEqual(3);
    const logged = logger.lines;
    const processed = logged.find((l) => l.message === 'batch ingested');
    expect(processed).toMatchObject({
      level: 'INFO',
      service: 'leakwatch-ingest',
      function_request_id: 'req-1',
      correlation_id: register.session.id,
      flowsCounted: 1,
      alertsRaised: 6,
    });
    const malformed = logged.find((l) => l.message === 'malformed record sent to dead-letter queue');
    expect(malformed).toMatchObject({ level: 'WARN', correlation_id: 'shardId-000000000000:49681' });
  });
});
