import { Duration, Validations } from 'aws-cdk-lib';
import { Stream, StreamEncryption, StreamMode } from 'aws-cdk-lib/aws-kinesis';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INGEST_BATCH } from '../../core/ingest/batchSettings.ts';
import type { FlowArchive } from './flowArchive.ts';
import type { HistoryStore } from './historyStore.ts';
import { leakwatchFunction } from './leakwatchFunction.ts';

export interface IngestPipelineProps {
  readonly history: HistoryStore;
  /** The deployment's customer-managed key (stream and dead-letter queue). */
  readonly key: IKey;
  /** Where each flow's archive row goes (Firehose → S3 Parquet, Glue partitions). */
  readonly archive: FlowArchive;
  /** How many previous builds of a line form a build's baseline. @default 1 */
  readonly baselineBuilds?: number;
  /** The digest key (registered values are matched by their keyed digests). */
  readonly digestKey: Secret;
  /**
   * Times a failing batch is retried before its metadata goes to the dead-letter queue.
   * @default 5
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this are sent to the dead-letter queue instead of processed.
   * @default Duration.days(1)
   */
  readonly maxRecordAge?: Duration;
  /** How long the stream keeps records. @default Duration.days(7) */
  readonly streamRetention?: Duration | undefined;
  /** How long the dead-letter queue keeps messages. @default Duration.days(14) */
  readonly deadLetterRetention?: Duration | undefined;
  /** How long the function's logs are kept. @default one month */
  readonly logRetention?: RetentionDays | undefined;
  /** Records per invocation at most (1–10,000; Lambda also stops at 6 MB). @default INGEST_BATCH.size */
  readonly batchSize?: number | undefined;
  /** Seconds the event source gathers records before invoking (0–300). @default INGEST_BATCH.windowSeconds */
  readonly batchWindowSeconds?: number | undefined;
}

/**
 * Probe → Kinesis → ingest function. The event source follows the AWS Solutions Constructs
 * defaults for kinesisstreams-lambda: partial batch responses, bisect on error, bounded retries and
 * record age, and an SQS on-failure destination (which also receives malformed records, with reasons).
 */
export class IngestPipeline extends Construct {
  readonly stream: Stream;
  readonly function: NodejsFunction;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: IngestPipelineProps) {
    super(scope, id);
    const retryAttempts = props.retryAttempts ?? 5;
    const batchSize = props.batchSize ?? INGEST_BATCH.size;
    const batchWindowSeconds = props.batchWindowSeconds ?? INGEST_BATCH.windowSeconds;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
      throw new Error(`IngestPipeline: batchSize must be an integer from 1 to 10000, got ${batchSize}`);
    if (!Number.isInteger(batchWindowSeconds) || batchWindowSeconds < 0 || batchWindowSeconds > 300)
      throw new Error(
        `IngestPipeline: batchWindowSeconds must be an integer from 0 to 300, got ${batchWindowSeconds}`,
      );
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 10000) {
      throw new Error(
        `IngestPipeline: retryAttempts must be an integer from 0 to 10000, got ${retryAttempts}`,
      );
    }
    this.stream = new Stream(this, 'FlowStream', {
      streamMode: StreamMode.ON_DEMAND,
      encryption: StreamEncryption.KMS,
      encryptionKey: props.key,
      retentionPeriod: props.streamRetention ?? Duration.days(7),
    });
    Validations.of(this.stream).acknowledge({
      id: 'AwsSolutions::AwsSolutions-KDS3',
      reason: "encrypted with the deployment's customer-managed key instead of aws/kinesis, on purpose",
    });
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: props.deadLetterRetention ?? Duration.days(14),
    });
    this.function = leakwatchFunction(this, 'IngestFunction', {
      handler: 'ingest',
      memorySize: 512,
      timeout: Duration.seconds(60),
      description: 'leakwatch: classify flow records, aggregate per build, raise and resolve alerts (outbox)',
      logGroupId: 'IngestLogs',
      logRetention: props.logRetention,
      environment: {
        TABLE_NAME: props.history.table.tableName,
        BASELINE_BUILDS: String(props.baselineBuilds ?? 1),
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        DIGEST_KEY_SECRET_ARN: props.digestKey.secretArn,
        LEAKWATCH_IP_TABLE: '/var/task/data/ip-table.bin',
        ...props.archive.environment,
      },
      // The offline IP table (country and AS, built by npm run build:data) travels with the function.
      afterBundling: (inputDir, outputDir) => [
        `mkdir -p "${outputDir}/data"`,
        `cp "${inputDir}/data/ip-table.bin" "${outputDir}/data/ip-table.bin"`,
      ],
    });
    this.function.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        // Ingest writes each item once per batch: large batches are what make a flow cost little
        // (docs/cost.md). The event source also ends a batch at Lambda's 6 MB payload limit.
        batchSize,
        maxBatchingWindow: Duration.seconds(batchWindowSeconds),
        parallelizationFactor: 1,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts,
        maxRecordAge: props.maxRecordAge ?? Duration.days(1),
        onFailure: new SqsDlq(this.deadLetterQueue),
      }),
    );
    props.history.table.grantReadWriteData(this.function);
    props.history.acknowledgeIndexAccess(this.function.role!);
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        'it is the dead-letter destination itself (Kinesis on-failure records and malformed records); an alarm watches its depth',
    });
    props.digestKey.grantRead(this.function);
    this.deadLetterQueue.grantSendMessages(this.function);
    props.archive.grantArchive(this.function);
  }
}
