import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { costBetween, meterDynamo, totalRequests } from '../../local/dynamoMeter.ts';
import { ensureTable, type LocalEmulators, startEmulators } from '../../local/emulators.ts';

/**
 * The benchmark's DynamoDB cost meter counts capacity as DynamoDB bills it: a write by the larger
 * of the item's images in KB (rounded up), a transaction's items twice, a consistent read by 4 KB.
 */
describe('DynamoDB cost meter', () => {
  const table = 'meter-test';
  let emulators: LocalEmulators;
  beforeAll(async () => {
    emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, table);
  });
  afterAll(async () => {
    await emulators?.close();
  });

  it('counts requests by operation and read and write units as billed', async () => {
    const meter = meterDynamo(emulators.dynamo, {
      latencyMs: 5,
      part: (operation, input) =>
        operation === 'PutItem' && JSON.stringify(input).includes('"t2"') ? 'claims' : undefined,
    });
    const before = meter.cost();
    const started = performance.now();
    const { documents } = emulators;
    // 1.5 KB: 2 write units.
    await documents.send(
      new PutCommand({ TableName: table, Item: { pk: 'a', sk: 'b', x: 'y'.repeat(1500) } }),
    );
    // A small new item: 1.
    await documents.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: 'a', sk: 'c' },
        UpdateExpression: 'ADD n :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    // A transaction of a small put (1) and an update of the 1.5 KB item (2), counted twice: 6.
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: { pk: 't', sk: '1' } } },
          {
            Update: {
              TableName: table,
              Key: { pk: 'a', sk: 'b' },
              UpdateExpression: 'ADD n :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
        ],
      }),
    );
    // A consistent read of the 1.5 KB item: 1 read unit.
    await documents.send(
      new GetCommand({ TableName: table, Key: { pk: 'a', sk: 'b' }, ConsistentRead: true }),
    );
    // A part of the work counted apart, and a put its condition refuses: billed all the same (1).
    const claim = () =>
      documents.send(
        new PutCommand({
          TableName: table,
          Item: { pk: 't2', sk: 'x' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    await claim();
    await expect(claim()).rejects.toThrow(ConditionalCheckFailedException);
    const cost = costBetween(meter.cost(), before);
    expect(cost).toEqual({
      requests: { PutItem: 3, UpdateItem: 1, TransactWriteItems: 1, GetItem: 1 },
      readUnits: 1,
      writeUnits: 11,
      parts: { claims: { requests: 2, readUnits: 0, writeUnits: 2 } },
    });
    expect(totalRequests(cost)).toBe(6);
    expect(performance.now() - started).toBeGreaterThanOrEqual(6 * 5); // every request waited
  });
});
