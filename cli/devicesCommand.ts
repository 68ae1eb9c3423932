import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadDigestKeyFromSecret } from '../core/registry/digestKeySecret.ts';
import { DynamoRegistry } from '../core/registry/dynamoRegistry.ts';
import { identifierProblem } from '../core/registry/identifiers.ts';
import type { RegisteredValue } from '../core/registry/knownValues.ts';
import { readRegistry, registerValues } from '../core/registry/registryFile.ts';
import { documentClient } from '../core/store/documentClient.ts';
import { awsClient, CliUsageError } from './openStore.ts';
import { REGISTER_FLAGS } from './registerFlags.ts';

export { REGISTER_FLAGS };

import { dataDirOf, existingDataDir, NoStoreError, stackOutputs } from './stackOutputs.ts';

const flagName = (option: string) => option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const ordinal = (n: number) => `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;

export interface DevicesIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** `leakwatch devices register`: adds a device's identifiers and canaries to the registry (digests only). */
export async function devicesRegister(options: Record<string, unknown>, io: DevicesIo): Promise<number> {
  const deviceId = options.deviceId as string | undefined;
  if (!deviceId) {
    io.stderr.write('leakwatch devices register: --device-id is required\n');
    return 2;
  }
  const values: RegisteredValue[] = [];
  const problems: string[] = [];
  for (const [, option, dataType, canary] of REGISTER_FLAGS) {
    const given = (options[option] as string[] | undefined) ?? [];
    for (const [i, value] of given.entries()) {
      // Identifiers are checked (Luhn, MCC, E.164, MAC); canaries only need to be non-empty.
      const problem = canary ? (value.trim() ? undefined : 'is empty') : identifierProblem(dataType, value);
      if (problem) {
        const which = given.length > 1 ? ` (the ${ordinal(i + 1)} one)` : '';
        problems.push(`--${flagName(option)}${which} ${problem}`);
        continue;
      }
      values.push({ dataType, value, ...(canary ? { canary: true } : {}) });
    }
  }
  if (problems.length > 0) {
    io.stderr.write(
      `leakwatch devices register: nothing registered:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
    );
    return 2;
  }
  if (values.length === 0) {
    io.stderr.write(
      'leakwatch devices register: nothing to register (give --imei, --phone, --canary-sms, …; see --help)\n',
    );
    return 2;
  }
  if (options.stack) {
    try {
      const { counts, digests } = await registerOnStack(
        String(options.stack),
        deviceId,
        values,
        options.awsRegion as string | undefined,
      );
      const summary = Object.entries(counts)
        .map(([type, n]) => `${type} ${n}`)
        .join(', ');
      io.stderr.write(
        `leakwatch devices register: ${deviceId}: ${values.length} values registered as ${digests} digests on stack ${options.stack} (now: ${summary})\n`,
      );
      return 0;
    } catch (error) {
      io.stderr.write(`leakwatch devices register: ${(error as Error).message}\n`);
      return error instanceof CliUsageError ? 2 : 1;
    }
  }
  const dataDir = dataDirOf(options.dataDir as string | undefined);
  const device = await registerValues(dataDir, deviceId, values, new Date());
  const counts = Object.entries(device.counts)
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
  io.stderr.write(
    `leakwatch devices register: ${deviceId}: ${values.length} values registered as digests in ${dataDir} (now: ${counts})\n`,
  );
  return 0;
}

/** `leakwatch devices list`: registered devices and how many values of each type (never the values). */
export async function devicesList(options: Record<string, unknown>, io: DevicesIo): Promise<number> {
  let dataDir: string;
  try {
    dataDir = existingDataDir(options.dataDir as string | undefined, 'registry.json');
  } catch (error) {
    if (!(error instanceof NoStoreError)) throw error;
    io.stderr.write(`leakwatch devices list: ${error.message}\n`);
    return 2;
  }
  const registry = await readRegistry(dataDir);
  const rows = Object.entries(registry.devices).map(([id, device]) => ({
    device: id,
    registeredAt: device.registeredAt,
    counts: device.counts,
  }));
  if (options.json) io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else
    for (const row of rows)
      io.stdout.write(
        `${row.device}\t${row.registeredAt}\t${Object.entries(row.counts)
          .map(([t, n]) => `${t}:${n}`)
          .join(' ')}\n`,
      );
  return 0;
}

export interface StackClients {
  readonly cloudFormation: CloudFormationClient;
  readonly secrets: SecretsManagerClient;
  readonly documents: DynamoDBDocumentClient;
}

/**
 * Registers on a deployed stack: its outputs name the table and the digest key's secret; the
 * standard AWS credential chain applies. Clients can be passed (tests).
 */
export async function registerOnStack(
  stackName: string,
  deviceId: string,
  values: readonly RegisteredValue[],
  region: string | undefined,
  clients?: StackClients,
): Promise<{ counts: Record<string, number>; digests: number }> {
  const config = region ? { region } : {};
  const cloudFormation = clients?.cloudFormation ?? (await awsClient(new CloudFormationClient(config)));
  const secrets = clients?.secrets ?? new SecretsManagerClient(config);
  const documents = clients?.documents ?? documentClient(new DynamoDBClient(config));
  const outputs = await stackOutputs(cloudFormation, stackName, ['HistoryTableName', 'DigestKeySecretArn']);
  const key = await loadDigestKeyFromSecret(secrets, outputs.DigestKeySecretArn);
  return new DynamoRegistry(documents, outputs.HistoryTableName, key).register(deviceId, values, new Date());
}
