import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { GlueClient } from '@aws-sdk/client-glue';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FirehoseArchive, GluePartitions } from '../../core/archive/firehoseArchive.ts';
import { loadCatalog } from '../../core/catalog/bundledCatalog.ts';
import { requireEnv } from '../../core/config.ts';
import { loadOfflineIpInfo } from '../../core/geo/ipInfo.ts';
import { cachedReverseLookup } from '../../core/geo/reverseDns.ts';
import { SqsDeadLetterSink } from '../../core/ingest/deadLetter.ts';
import { loadDigestKeyFromSecret } from '../../core/registry/digestKeySecret.ts';
import { DynamoRegistry, RegistryCache } from '../../core/registry/dynamoRegistry.ts';
import { ValueDigester } from '../../core/registry/knownValues.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { observability } from '../shared/observability.ts';
import { createIngestHandler } from './createIngestHandler.ts';

// Clients are made once per execution environment, outside the handler; each call is traced.
const obs = observability('ingest');
const traced = <T>(client: T): T => obs.tracer.captureAWSv3Client(client);
const documents = documentClient(traced(new DynamoDBClient({})));

// The digest key is read once per execution environment, before the first event.
const digestKey = await loadDigestKeyFromSecret(
  traced(new SecretsManagerClient({})),
  requireEnv('DIGEST_KEY_SECRET_ARN'),
);
const registry = new RegistryCache(new DynamoRegistry(documents, requireEnv('TABLE_NAME'), digestKey));

// Each flow's archive row (masked values, digests) goes to Firehose → S3 Parquet; the partitions
// it lands in are added to the Glue table so Athena reads them.
const archive = new FirehoseArchive(traced(new FirehoseClient({})), requireEnv('ARCHIVE_DELIVERY_STREAM'), {
  partitions: new GluePartitions(traced(new GlueClient({})), {
    database: requireEnv('ARCHIVE_DATABASE'),
    table: requireEnv('ARCHIVE_TABLE'),
    bucket: requireEnv('ARCHIVE_BUCKET'),
  }),
});

export const handler = createIngestHandler({
  observability: obs,
  archive,
  digester: new ValueDigester(digestKey),
  knownValues: (deviceId) => registry.get(deviceId),
  store: new LeakwatchStore(documents, requireEnv('TABLE_NAME')),
  baselineBuilds: Number(process.env.BASELINE_BUILDS ?? '1'),
  deadLetters: new SqsDeadLetterSink(traced(new SQSClient({})), requireEnv('DEAD_LETTER_QUEUE_URL')),
  // A deployment's own catalog file, bundled with the function, extends the shipped one.
  catalog: loadCatalog(process.env.LEAKWATCH_CATALOG),
  // The stack copies the IP table into the bundle and points LEAKWATCH_IP_TABLE at it.
  // PTR names only for flows with no name of their own (300 ms limit, cached per address).
  reverseLookup: cachedReverseLookup(),
  ipInfo: loadOfflineIpInfo({}, (message) => obs.logger.warn(message)),
});
