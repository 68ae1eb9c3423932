import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
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
import { SnsAlertPublisher } from '../../core/alerts/publisher.ts';
import { BUNDLED_CATALOG } from '../../core/catalog/bundledCatalog.ts';
import { DestinationCatalog } from '../../core/catalog/catalog.ts';
import { SqsDeadLetterSink } from '../../core/ingest/deadLetter.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { createIngestHandler } from '../../lambdas/ingest/createIngestHandler.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { probeScenario } from '../helpers/scenario.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
const sns = mockClient(SNSClient);
const sqs = mockClient(SQSClient);

function handler() {
  return createIngestHandler({
    store: new LeakwatchStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'history'),
    publisher: new SnsAlertPublisher(new SNSClient({}), 'arn:aws:sns:eu-west-1:123456789012:alerts'),
    deadLetters: new SqsDeadLetterSink(
      new SQSClient({}),
      'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
    ),
    catalog: new DestinationCatalog(BUNDLED_CATALOG),
    log: () => undefined,
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
    sns.reset();
    sqs.reset();
    dynamo.on(TransactWriteCommand).resolves({});
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(PutCommand).resolves({});
    dynamo.on(UpdateCommand).resolves({});
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
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
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it('reports only the record whose write failed, so Lambda retries from it', async () => {
    const [first, second] = await probeScenario('build-1');
    dynamo.on(TransactWriteCommand).rejectsOnce(new Error('ProvisionedThroughputExceeded')).resolves({});

    const response = await handler()(event([first!, second!]), context);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '49680' }] });
  });

  it('publishes each new alert to SNS with filterable attributes, and marks it delivered', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;

    await handler()(event([register]), context);

    const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published.map((p) => p.MessageAttributes?.dataType?.StringValue).sort()).toEqual([
      'carrier-name',
      'carrier-name',
      'imei',
      'imei',
      'phone-number',
      'phone-number',
    ]);
    expect(published[0]!.Subject!.length).toBeLessThanOrEqual(100);
    expect(published[0]!.Message).toContain('api.account.xiaomi.com');
    expect(published.every((p) => !p.Message!.includes('864690020123454'))).toBe(true);
    expect(dynamo.commandCalls(UpdateCommand)).toHaveLength(published.length);
  });

  it('does not publish again for an alert that exists and was delivered', async () => {
    const records = await probeScenario('build-2');
    const register = records.find((r) => r.http?.[0]?.target.includes('register'))!;
    const { ConditionalCheckFailedException } = await import('@aws-sdk/client-dynamodb');
    dynamo.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {} }));
    dynamo
      .on(GetCommand)
      .resolves({ Item: { rule: 'plaintext-begins', notifiedAt: '2026-01-01T00:00:00Z' } });

    await handler()(event([register]), context);

    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });
});
