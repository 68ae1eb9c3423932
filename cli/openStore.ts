import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AwsClientConfig, AwsSetupError, checkAwsSetup } from '../core/config/awsSetup.ts';
import { FleetHistory } from '../core/history/fleetHistory.ts';
import { documentClient } from '../core/store/documentClient.ts';
import { LeakwatchStore } from '../core/store/leakwatchStore.ts';
import { CliUsageError } from './cliUsageError.ts';
import { existingDataDir, NoStoreError, StackOutputsError, stackOutputs } from './stackOutputs.ts';

/** A bad flag or a question the history cannot answer: exit code 2 with the message. */
export { CliUsageError };

export interface OpenStore {
  readonly store: LeakwatchStore;
  readonly history: FleetHistory;
  close(): Promise<void>;
}

/**
 * Opens the history: the local store under the data directory (the default, after `npm start`),
 * or a deployed stack's table (`--stack NAME`, read from the stack's outputs; AWS credential chain).
 */
export async function openStore(options: Record<string, unknown>): Promise<OpenStore> {
  const open = (documents: DynamoDBDocumentClient, table: string, close: () => Promise<void>) => ({
    store: new LeakwatchStore(documents, table),
    history: new FleetHistory(documents, table),
    close,
  });
  if (options.stack) {
    const { region, outputs } = await stackOf(options, ['HistoryTableName']);
    return open(documentClient(new DynamoDBClient(region)), outputs.HistoryTableName, async () => undefined);
  }
  // Local mode's store: dynalite on the data directory (only started when asked for).
  const { startEmulators, ensureTable, LOCAL_NAMES, LocalTableError, clientConfig } = await import(
    '../local/emulators.ts'
  );
  const { lockDataDir, ownerOf, DataDirBusyError } = await import('../local/dataDirLock.ts');
  let dataDir: string;
  try {
    dataDir = existingDataDir(options.dataDir as string | undefined, 'dynamodb');
  } catch (error) {
    if (error instanceof NoStoreError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
  // A running leakwatch serve holds the store: read it through serve's DynamoDB endpoint.
  const owner = ownerOf(dataDir);
  if (owner?.command === 'serve' && owner.pid !== process.pid && owner.dynamoEndpoint) {
    const dynamo = new DynamoDBClient(clientConfig(owner.dynamoEndpoint));
    return open(documentClient(dynamo), LOCAL_NAMES.table, async () => dynamo.destroy());
  }
  let lock: Awaited<ReturnType<typeof lockDataDir>>;
  try {
    lock = await lockDataDir(dataDir, 'history command');
  } catch (error) {
    if (error instanceof DataDirBusyError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
  let emulators: Awaited<ReturnType<typeof startEmulators>>;
  try {
    emulators = await startEmulators(dataDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  const close = async () => {
    await emulators.close();
    lock.release();
  };
  try {
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table, { create: false });
  } catch (error) {
    await close();
    if (error instanceof LocalTableError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
  return open(emulators.documents, LOCAL_NAMES.table, close);
}

/**
 * The deployed stack `--stack` names (in `--aws-region`, else the SDK chain's region): the region
 * option for clients and the outputs asked for. A stack without them is a usage error.
 */
export async function stackOf<Name extends string>(
  options: Record<string, unknown>,
  names: readonly Name[],
  cloudFormation?: (region: { region?: string }) => CloudFormationClient,
): Promise<{ region: { region?: string }; outputs: Record<Name, string> }> {
  const region = options.awsRegion ? { region: String(options.awsRegion) } : {};
  const client = cloudFormation ? cloudFormation(region) : await awsClient(new CloudFormationClient(region));
  try {
    return { region, outputs: await stackOutputs(client, String(options.stack), names) };
  } catch (error) {
    if (error instanceof StackOutputsError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
}

/** A real AWS client, once its region and credentials resolve (else a usage error saying which is missing). */
export async function awsClient<Client extends AwsClientConfig>(client: Client): Promise<Client> {
  try {
    await checkAwsSetup(client);
    return client;
  } catch (error) {
    if (error instanceof AwsSetupError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
}

/** Opens the store, runs `work` on it, and closes it however `work` ends. */
export async function withStore(
  options: Record<string, unknown>,
  work: (opened: OpenStore) => Promise<number>,
): Promise<number> {
  const opened = await openStore(options);
  try {
    return await work(opened);
  } finally {
    await opened.close();
  }
}

export interface CliIo {
  readonly stdout: { write(text: string): unknown; isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
}

/**
 * Rows as a table: columns padded on a terminal, tab-separated otherwise (for cut/awk).
 */
export function printTable(io: CliIo, headers: string[], rows: (string | number | undefined)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  if (!io.stdout.isTTY) {
    for (const row of cells) io.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  for (const row of cells)
    io.stdout.write(
      `${row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd()}\n`,
    );
}

/** --limit as a page size. */
export function limitOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new CliUsageError(`--limit "${value}": a whole number from 1 to 1000`);
  return n;
}
