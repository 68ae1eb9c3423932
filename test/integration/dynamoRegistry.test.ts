import { randomBytes } from 'node:crypto';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { registerOnStack } from '../../cli/devicesCommand.ts';
import { loadDigestKeyFromSecret } from '../../core/registry/digestKeySecret.ts';
import { DynamoRegistry, RegistryCache } from '../../core/registry/dynamoRegistry.ts';
import { ensureTable, type LocalEmulators, startEmulators } from '../../local/emulators.ts';

/** The AWS registry against dynalite with real SDK clients; CloudFormation and Secrets Manager mocked. */
describe('DynamoRegistry', () => {
  let emulators: LocalEmulators;
  const table = 'registry-test';
  const key = randomBytes(32);

  beforeAll(async () => {
    emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, table);
  });
  afterAll(async () => {
    await emulators.close();
  });

  it('stores digests only and loads them back as a matching index', async () => {
    const registry = new DynamoRegistry(emulators.documents, table, key);
    const values = [
      { dataType: 'imei' as const, value: '490154203237518' },
      { dataType: 'sms-content' as const, value: 'canary 99', canary: true },
      { dataType: 'wifi-mac' as const, value: 'a4:50:46:12:34:56' },
    ];

    const result = await registry.register('lab-07', values, new Date('2026-01-01T00:00:00Z'));
    const index = await registry.load('lab-07');
    const raw = JSON.stringify(
      await emulators.documents.send(
        new (await import('@aws-sdk/lib-dynamodb')).ScanCommand({ TableName: table }),
      ),
    );

    expect(result.counts).toEqual({ imei: 1, 'sms-content': 1, 'wifi-mac': 1 });
    expect(result.digests).toBeGreaterThan(25); // more than one BatchWrite
    expect(index?.match('490154203237518')).toMatchObject({ dataType: 'imei', form: 'plain' });
    expect(index?.match('CANARY 99')).toMatchObject({ dataType: 'sms-content', canary: true });
    expect(raw).not.toContain('490154203237518');
    expect(raw).not.toContain('canary 99');
    expect(await registry.load('never-registered')).toBeUndefined();
  });

  it('the cache loads a device once and again after its maximum age', async () => {
    let loads = 0;
    let now = 0;
    const load = async () => {
      loads++;
      return undefined;
    };
    const cache = new RegistryCache({ load }, 1000, () => now);

    await cache.get('d');
    await cache.get('d');
    now = 1500;
    await cache.get('d');

    expect(loads).toBe(2);
  });

  it('registers on a stack found by its outputs', async () => {
    const cloudFormation = mockClient(CloudFormationClient);
    const secrets = mockClient(SecretsManagerClient);
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Leakwatch',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'HistoryTableName', OutputValue: table },
            { OutputKey: 'DigestKeySecretArn', OutputValue: 'arn:aws:secretsmanager:eu-west-1:1:secret:k' },
          ],
        },
      ],
    });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: key.toString('hex') });

    const result = await registerOnStack(
      'Leakwatch',
      'lab-08',
      [{ dataType: 'imei', value: '356938035643809' }],
      'eu-west-1',
      {
        cloudFormation: new CloudFormationClient({}),
        secrets: new SecretsManagerClient({}),
        documents: emulators.documents,
      },
    );
    const index = await new DynamoRegistry(emulators.documents, table, key).load('lab-08');

    expect(result.counts).toEqual({ imei: 1 });
    expect(index?.match('356938035643809')?.dataType).toBe('imei');
    cloudFormation.restore();
    secrets.restore();
  });

  it('names a secret that does not hold a key', async () => {
    const secrets = mockClient(SecretsManagerClient);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'not-hex' });

    await expect(loadDigestKeyFromSecret(new SecretsManagerClient({}), 'arn:x')).rejects.toThrow(
      'secret arn:x does not hold a 64-hex-character digest key (got 7 characters)',
    );
    secrets.restore();
  });
});
