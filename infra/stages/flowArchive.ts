import { Aws, Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  DeliveryStream,
  InputFormat,
  JsonParsingEngine,
  MetadataExtractionProcessor,
  OutputFormat,
  RecordDeAggregationProcessor,
  S3Bucket,
  SchemaConfiguration,
  StreamEncryption,
} from 'aws-cdk-lib/aws-kinesisfirehose';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  type IBucket,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  ARCHIVE_PARTITION_KEYS,
  ARCHIVE_PREFIX,
  ARCHIVE_TABLE,
  archiveStorage,
} from '../../core/archive/archiveRow.ts';
import { SAVED_QUERIES } from '../../core/archive/savedQueries.ts';

/** Where Athena writes query results in the archive bucket (expired after RESULTS_DAYS). */
const RESULTS_PREFIX = 'athena-results/';
const RESULTS_DAYS = 30;

/**
 * The flow archive: years of flow rows for Athena. The ingest function puts each flow's row
 * (masked values and digests, never a raw value) on a Firehose delivery stream, which converts the
 * JSON to Parquet with the Glue table's schema and writes it to S3 under
 * `flows/dt=<day>/model=<model>/` (dynamic partitioning on the rows' own fields); the ingest
 * function adds new partitions to the table. A workgroup holds the saved queries (SAVED_QUERIES,
 * the same SQL `leakwatch archive query` runs locally) and writes results to the bucket.
 */
export class FlowArchive extends Construct {
  readonly bucket: Bucket;
  readonly deliveryStream: DeliveryStream;
  readonly databaseName: string;
  readonly tableName = ARCHIVE_TABLE;
  readonly workGroupName: string;
  private readonly table: CfnTable;

  constructor(scope: Construct, id: string, props: { readonly key: IKey }) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    // Glue database names: lower case, digits and underscores; one database per stack.
    this.databaseName = `${stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_archive`;
    this.workGroupName = `${stackName}-archive`;

    // Server access logs of the archive bucket (who read or wrote which object).
    const accessLogs = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason: 'this is the access-log bucket of the archive bucket; logging its own access would loop',
    });
    this.bucket = new Bucket(this, 'Bucket', {
      serverAccessLogsBucket: accessLogs as IBucket,
      serverAccessLogsPrefix: 'archive/',
      encryption: BucketEncryption.KMS,
      encryptionKey: props.key,
      // One data key per bucket instead of a KMS call per object.
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      // The archive is the lab's record: deleting the stack keeps it.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'flows-to-intelligent-tiering',
          prefix: `${ARCHIVE_PREFIX}/`,
          transitions: [
            { storageClass: StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(30) },
          ],
          noncurrentVersionExpiration: Duration.days(30),
        },
        { id: 'athena-results-expire', prefix: RESULTS_PREFIX, expiration: Duration.days(RESULTS_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });

    const database = new CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: this.databaseName,
        description: 'leakwatch flow archive (one row per flow record: masked values and digests only)',
      },
    });
    this.table = new CfnTable(this, 'FlowsTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: ARCHIVE_TABLE,
        description: 'Flow rows written by Firehose as Parquet, partitioned by UTC day and model',
        tableType: 'EXTERNAL_TABLE',
        parameters: { classification: 'parquet', 'parquet.compression': 'SNAPPY', EXTERNAL: 'TRUE' },
        partitionKeys: ARCHIVE_PARTITION_KEYS.map((k) => ({
          name: k.name,
          type: k.type,
          comment: k.comment,
        })),
        storageDescriptor: archiveStorage(this.bucket.s3UrlForObject(`${ARCHIVE_PREFIX}/`)),
      },
    });
    this.table.node.addDependency(database);

    this.deliveryStream = new DeliveryStream(this, 'DeliveryStream', {
      encryption: StreamEncryption.customerManagedKey(props.key),
      // (Bucket's optional isWebsite does not satisfy IBucket under exactOptionalPropertyTypes.)
      destination: new S3Bucket(this.bucket as IBucket, {
        dataOutputPrefix: `${ARCHIVE_PREFIX}/dt=!{partitionKeyFromQuery:dt}/model=!{partitionKeyFromQuery:model}/`,
        encryptionKey: props.key,
        errorOutputPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
        dynamicPartitioning: { enabled: true },
        // Ingest puts up to 500 rows in one record (Firehose bills each record rounded up to 5 KB);
        // they are split back into rows before the partition keys are read from each.
        processors: [
          RecordDeAggregationProcessor.json(),
          new MetadataExtractionProcessor(
            {
              metadataExtractionQuery: '{dt: .dt, model: .model}',
              jsonParsingEngine: JsonParsingEngine.JQ_1_6,
            },
            ['dt', 'model'],
          ),
        ],
        dataFormatConversion: {
          schemaConfiguration: SchemaConfiguration.fromCfnTable(this.table),
          inputFormat: InputFormat.OPENX_JSON,
          outputFormat: OutputFormat.PARQUET,
        },
        // Format conversion needs a buffer of at least 64 MiB.
        bufferingSize: Size.mebibytes(128),
        bufferingInterval: Duration.minutes(5),
      }),
    });

    // The Firehose construct's role: read/write on this bucket and its objects (the grant's s3:*Object*
    // actions), and glue:GetSchemaVersion, which has no resource-level permissions.
    Validations.of(this.deliveryStream).acknowledge(
      ...[
        'Action::s3:GetObject*',
        'Action::s3:GetBucket*',
        'Action::s3:List*',
        'Action::s3:DeleteObject*',
        'Action::s3:Abort*',
        `Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>/*`,
        'Resource::*',
      ].map((finding) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[${finding}]`,
        reason:
          "Firehose's S3 destination grant, scoped to the archive bucket and its objects; glue:GetSchemaVersion allows no narrower resource",
      })),
    );
    const workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'leakwatch flow archive: saved queries (leakwatch archive query --stack)',
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        // A guard against a query reading the whole archive by mistake (100 GiB).
        bytesScannedCutoffPerQuery: 100 * 1024 ** 3,
        resultConfiguration: {
          outputLocation: this.bucket.s3UrlForObject(RESULTS_PREFIX),
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.key.keyArn },
        },
      },
    });
    // DeliveryStream always adds the Firehose CIDR mapping (used only for Redshift/Splunk destinations).
    Validations.of(Stack.of(this)).acknowledge({
      id: 'CloudFormation-Validate::W7001',
      reason: "the Firehose construct's CIDR mapping is unused with an S3 destination",
    });
    for (const query of SAVED_QUERIES) {
      const named = new CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: query.description,
        database: this.databaseName,
        workGroup: workGroup.ref,
        queryString: query.sql,
      });
      named.node.addDependency(this.table);
    }
  }

  /** What the ingest function needs: put rows on the delivery stream, add partitions to the table. */
  grantArchive(grantee: IGrantable): void {
    this.deliveryStream.grantPutRecords(grantee);
    const stack = Stack.of(this);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['glue:BatchCreatePartition'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
          stack.formatArn({
            service: 'glue',
            resource: 'table',
            resourceName: `${this.databaseName}/${ARCHIVE_TABLE}`,
          }),
        ],
      }),
    );
  }

  /** Environment of the ingest function for FirehoseArchive and GluePartitions. */
  get environment(): Record<string, string> {
    return {
      ARCHIVE_DELIVERY_STREAM: this.deliveryStream.deliveryStreamName,
      ARCHIVE_DATABASE: this.databaseName,
      ARCHIVE_TABLE: ARCHIVE_TABLE,
      ARCHIVE_BUCKET: this.bucket.bucketName,
    };
  }
}
