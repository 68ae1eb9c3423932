import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openStore } from '../../cli/openStore.ts';
import { keys } from '../../core/store/keys.ts';
import { TABLE_DESIGN } from '../../core/store/tableDesign.ts';
import {
  ensureTable,
  LOCAL_NAMES,
  type LocalEmulators,
  LocalTableError,
  startEmulators,
} from '../../local/emulators.ts';

/** A local table made by an older leakwatch is refused with the fix, never read with the wrong keys. */
describe('local table layout', () => {
  let dataDir: string;
  let emulators: LocalEmulators;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-table-'));
    emulators = await startEmulators(dataDir);
  });

  afterAll(async () => {
    await emulators?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the table with every index and its layout version, then accepts it', async () => {
    expect(await ensureTable(emulators.dynamo, 'current')).toBe('created');
    expect(await ensureTable(emulators.dynamo, 'current')).toBe('existed');
  });

  it('refuses a table holding the previous key layout (no layout item)', async () => {
    await ensureTable(emulators.dynamo, 'previous');
    await emulators.dynamo.send(new DeleteItemCommand({ TableName: 'previous', Key: marshall(keys.layout) }));
    const refused = ensureTable(emulators.dynamo, 'previous');
    await expect(refused).rejects.toThrow(LocalTableError);
    await expect(ensureTable(emulators.dynamo, 'previous')).rejects.toThrow(
      `the local table previous was made by an older leakwatch and holds key layout 1, this leakwatch reads layout ${TABLE_DESIGN.layoutVersion}: remove the data directory's dynamodb folder`,
    );
  });

  it('refuses a table without the indexes, naming them', async () => {
    await emulators.dynamo.send(
      new CreateTableCommand({
        TableName: 'oldest',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    await expect(ensureTable(emulators.dynamo, 'oldest')).rejects.toThrow(
      'lacks the index(es) sentByOrganisation, sentByCountry, alertsByState',
    );
  });

  it('the CLI reports an old local table as a usage error with the fix', async () => {
    const oldDir = await mkdtemp(join(tmpdir(), 'leakwatch-old-'));
    try {
      const old = await startEmulators(oldDir);
      try {
        await ensureTable(old.dynamo, LOCAL_NAMES.table);
        await old.dynamo.send(
          new DeleteItemCommand({ TableName: LOCAL_NAMES.table, Key: marshall(keys.layout) }),
        );
      } finally {
        await old.close();
      }
      await expect(openStore({ dataDir: oldDir })).rejects.toMatchObject({
        name: 'CliUsageError',
        message: expect.stringContaining('remove the data directory'),
      });
    } finally {
      await rm(oldDir, { recursive: true, force: true });
    }
  });
});
