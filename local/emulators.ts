import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  KinesisClient,
  ResourceInUseException,
} from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { documentClient } from '../core/store/documentClient.ts';
import { keys } from '../core/store/keys.ts';
import { TABLE_DESIGN } from '../core/store/tableDesign.ts';
import type { EmulatorHostOptions, EmulatorHostReady } from './emulatorHost.ts';

/** Resource names in local mode (the stack names its own on AWS). */
export const LOCAL_NAMES = { table: 'leakwatch-local', stream: 'leakwatch-flows-local', shards: 2 } as const;

/** Emulators take any credentials but the SDK insists on having some. */
export const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  // The Kinesis client speaks HTTP/2 by default, which the emulators do not.
  requestHandler: new NodeHttpHandler(),
});

export interface LocalEmulators {
  readonly kinesis: KinesisClient;
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
  close(): Promise<void>;
}

/** Polls `active` every 20 ms until it gives a value (the emulators create resources asynchronously). */
async function whenActive<T>(what: string, active: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = await active();
    if (value !== undefined) return value;
    await delay(20);
  }
  throw new Error(`${what} did not become ACTIVE`);
}

/**
 * Starts kinesalite (in memory: the stream is a conveyor, not a store) and dynalite (on disk under
 * `dataDir`, so history survives between runs) on loopback ports, on a worker thread of their own
 * (local/emulatorHost.ts). `dataDir` null keeps DynamoDB in memory too (tests).
 */
export interface EmulatorOptions {
  /**
   * Kinesis for leakwatch serve: on disk under the data directory (records accepted survive a
   * restart) and listening where probes on other hosts reach it.
   */
  readonly kinesis?: { readonly persist?: boolean; readonly host?: string; readonly port?: number };
  /**
   * Journal each transaction on disk before applying it, so one half applied by a killed process is
   * restored at the next start (local/dynamoTransactionShim.ts). Off only to measure its cost
   * (`npm run bench:load -- --no-journal`). @default true
   */
  readonly journal?: boolean;
}

export async function startEmulators(
  dataDir: string | null,
  options: EmulatorOptions = {},
): Promise<LocalEmulators> {
  let dynamoPath: string | null = null;
  let journalPath: string | null = null;
  if (dataDir) {
    dynamoPath = join(dataDir, 'dynamodb');
    if (options.journal !== false) journalPath = join(dataDir, 'dynamodb-journal');
    await mkdir(dynamoPath, { recursive: true });
  }
  const kinesisPath = dataDir && options.kinesis?.persist ? join(dataDir, 'kinesis') : undefined;
  if (kinesisPath) await mkdir(kinesisPath, { recursive: true });
  const worker = new Worker(new URL('./emulatorWorker.mjs', import.meta.url), {
    workerData: {
      dynamoPath,
      journalPath,
      kinesis: {
        ...(kinesisPath ? { path: kinesisPath } : {}),
        ...(options.kinesis?.host ? { host: options.kinesis.host } : {}),
        ...(options.kinesis?.port !== undefined ? { port: options.kinesis.port } : {}),
      },
    } satisfies EmulatorHostOptions,
  });
  const { dynamoPort, kinesisPort } = await new Promise<EmulatorHostReady>((resolve, reject) => {
    const exited = (code: number) =>
      reject(new Error(`the emulators' worker exited (code ${code}) before listening`));
    worker.once('error', reject);
    worker.once('exit', exited);
    worker.once('message', (ready: EmulatorHostReady) => {
      worker.off('error', reject);
      worker.off('exit', exited);
      resolve(ready);
    });
  });
  const kinesisHost =
    options.kinesis?.host && options.kinesis.host !== '0.0.0.0' ? options.kinesis.host : '127.0.0.1';
  const kinesisEndpoint = `http://${kinesisHost.includes(':') ? `[${kinesisHost}]` : kinesisHost}:${kinesisPort}`;
  const dynamoEndpoint = `http://127.0.0.1:${dynamoPort}`;
  const kinesis = new KinesisClient(clientConfig(kinesisEndpoint));
  const dynamo = new DynamoDBClient(clientConfig(dynamoEndpoint));
  const documents = documentClient(dynamo);
  return {
    kinesis,
    dynamo,
    documents,
    kinesisEndpoint,
    dynamoEndpoint,
    async close() {
      kinesis.destroy();
      dynamo.destroy();
      const closed = new Promise<void>((resolve) => {
        worker.once('message', () => resolve());
        worker.once('exit', () => resolve());
      });
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    },
  };
}

/**
 * Creates the table with the stack's key design, unless a previous run did. With `create: false`
 * (commands that only read the history) a missing table is a LocalTableError instead.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  { create = true }: { create?: boolean } = {},
): Promise<'created' | 'existed'> {
  const indexes = Object.values(TABLE_DESIGN.indexes);
  try {
    const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const present = new Set((table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
    const missing = indexes.filter((i) => !present.has(i.indexName)).map((i) => i.indexName);
    const layout = await client.send(
      new GetItemCommand({ TableName: tableName, Key: marshall(keys.layout), ConsistentRead: true }),
    );
    const version = layout.Item?.version?.N;
    const problem =
      missing.length > 0
        ? `lacks the index(es) ${missing.join(', ')}`
        : version !== String(TABLE_DESIGN.layoutVersion)
          ? `holds key layout ${version ?? 1}, this leakwatch reads layout ${TABLE_DESIGN.layoutVersion}`
          : undefined;
    if (problem)
      throw new LocalTableError(
        `the local table ${tableName} was made by an older leakwatch and ${problem}: remove the data directory's dynamodb folder and run npm start again (it rebuilds the history from the captures)`,
      );
    return 'existed';
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    if (!create)
      throw new LocalTableError(
        `the local store has no table ${tableName} yet: leakwatch run CAPTURE… (or npm start) fills it`,
      );
  }
  const attributes = new Set<string>([TABLE_DESIGN.partitionKey, TABLE_DESIGN.sortKey]);
  for (const index of indexes) attributes.add(index.partitionKey).add(index.sortKey);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: TABLE_DESIGN.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_DESIGN.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: indexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection:
          index.projection === 'sent'
            ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...TABLE_DESIGN.sentProjection] }
            : { ProjectionType: 'ALL' },
      })),
    }),
  );
  // dynalite answers CreateTable while the table is CREATING; it takes writes once ACTIVE.
  await whenActive(`table ${tableName}`, async () => {
    const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return table?.TableStatus === 'ACTIVE' ? true : undefined;
  });
  await client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: marshall({ ...keys.layout, type: 'layout', version: TABLE_DESIGN.layoutVersion }),
    }),
  );
  return 'created';
}

export class LocalTableError extends Error {
  override name = 'LocalTableError';
}

/**
 * How long the local stream keeps a record: the longest kinesalite takes (AWS's own default for the
 * stack, `streamRetentionHours`, is the same 7 days). kinesalite drops older records when they are
 * read, so a `leakwatch serve` stopped with records not yet ingested must be started again within it.
 */
export const LOCAL_STREAM_RETENTION_HOURS = 168;

/**
 * Creates the stream (unless it is there already: a persistent one), waits until it is ACTIVE and
 * gives it LOCAL_STREAM_RETENTION_HOURS (kinesalite creates streams with 24).
 */
export async function ensureStream(
  client: KinesisClient,
  streamName: string,
  shards: number,
): Promise<string> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const summary = await whenActive(`stream ${streamName}`, async () => {
    const { StreamDescriptionSummary: summary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    return summary?.StreamStatus === 'ACTIVE' ? summary : undefined;
  });
  if ((summary.RetentionPeriodHours ?? 0) < LOCAL_STREAM_RETENTION_HOURS)
    await client.send(
      new IncreaseStreamRetentionPeriodCommand({
        StreamName: streamName,
        RetentionPeriodHours: LOCAL_STREAM_RETENTION_HOURS,
      }),
    );
  return summary.StreamARN!;
}
