import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureTable, type LocalEmulators, startEmulators } from '../../local/emulators.ts';

/**
 * The local TransactWriteItems (dynalite has none): all writes or none, as DynamoDB does. A
 * condition failing on the last write undoes the writes before it: an updated item gets its old
 * attributes back, a put that created an item removes it, a put that replaced one restores it.
 */
describe('local transaction shim', () => {
  const table = 'shim-test';
  let emulators: LocalEmulators;
  const get = async (pk: string) =>
    (
      await emulators.documents.send(
        new GetCommand({ TableName: table, Key: { pk, sk: 'x' }, ConsistentRead: true }),
      )
    ).Item;

  beforeAll(async () => {
    emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, table);
    await emulators.documents.send(
      new PutCommand({ TableName: table, Item: { pk: 'counter', sk: 'x', n: 1, tags: new Set(['a']) } }),
    );
    await emulators.documents.send(
      new PutCommand({ TableName: table, Item: { pk: 'replaced', sk: 'x', v: 'old' } }),
    );
    await emulators.documents.send(new PutCommand({ TableName: table, Item: { pk: 'guard', sk: 'x' } }));
  });

  afterAll(async () => {
    await emulators?.close();
  });

  const transaction = (guardCondition: string) =>
    emulators.documents.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: table,
              Key: { pk: 'counter', sk: 'x' },
              UpdateExpression: 'ADD n :one, tags :b',
              ExpressionAttributeValues: { ':one': 1, ':b': new Set(['b']) },
            },
          },
          { Put: { TableName: table, Item: { pk: 'created', sk: 'x', v: 'new' } } },
          { Put: { TableName: table, Item: { pk: 'replaced', sk: 'x', v: 'new' } } },
          { Put: { TableName: table, Item: { pk: 'guard', sk: 'x' }, ConditionExpression: guardCondition } },
        ],
      }),
    );

  it('cancels with the failed condition named, leaving every item as it was', async () => {
    const error = await transaction('attribute_not_exists(pk)').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'None',
      'None',
      'None',
      'ConditionalCheckFailed',
    ]);
    expect(await get('counter')).toEqual({ pk: 'counter', sk: 'x', n: 1, tags: new Set(['a']) });
    expect(await get('created')).toBeUndefined();
    expect(await get('replaced')).toEqual({ pk: 'replaced', sk: 'x', v: 'old' });
  });

  it('applies every write when every condition holds', async () => {
    await transaction('attribute_exists(pk)');
    expect(await get('counter')).toEqual({ pk: 'counter', sk: 'x', n: 2, tags: new Set(['a', 'b']) });
    expect(await get('created')).toEqual({ pk: 'created', sk: 'x', v: 'new' });
    expect(await get('replaced')).toEqual({ pk: 'replaced', sk: 'x', v: 'new' });
  });
});
