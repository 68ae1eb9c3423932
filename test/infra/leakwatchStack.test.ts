import { describe, expect, it } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ARCHIVE_COLUMNS } from '../../core/archive/archiveRow.ts';
import { SAVED_QUERIES } from '../../core/archive/savedQueries.ts';
import openApi from '../../docs/openapi.json' with { type: 'json' };
import { checkStackName, DeploymentConfigError, readDeploymentConfig } from '../../infra/config.ts';
import { LeakwatchStack } from '../../infra/leakwatchStack.ts';
import { API_ROUTES } from '../../infra/stages/queryApi.ts';

// Synthesizing bundles the ingest function with the local esbuild (no Docker), once for the file.
const template = Template.fromStack(
  new LeakwatchStack(new App(), 'Test', { alertEmail: 'team@example.com' }),
);

describe('LeakwatchStack', () => {
  const dataKey = { 'Fn::GetAtt': [expect.stringMatching(/^DataKey/), 'Arn'] };
  const dataKeyRef = { 'Fn::GetAtt': [Match.stringLikeRegexp('^DataKey'), 'Arn'] };

  it('has one customer-managed key, rotated and retained, that CloudWatch alarms may use for the topic', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ EnableKeyRotation: true }),
    });
    const key = Object.values(template.findResources('AWS::KMS::Key'))[0]!;
    const statements = key.Properties.KeyPolicy.Statement as { Sid?: string; Principal: unknown }[];
    expect(statements.find((s) => s.Sid === 'CloudWatchAlarmsPublishToAlertTopic')?.Principal).toEqual({
      Service: 'cloudwatch.amazonaws.com',
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/leakwatch/Test' });
  });

  it('encrypts the stream, table, topic, queues, archive, delivery stream and Athena results with that key', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: dataKeyRef },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: dataKeyRef },
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: dataKeyRef });
    const queues = Object.values(template.findResources('AWS::SQS::Queue'));
    expect(queues).toHaveLength(2);
    for (const queue of queues) expect(queue.Properties.KmsMasterKeyId).toEqual(dataKey);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: dataKeyRef },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK', KeyARN: dataKeyRef },
      ExtendedS3DestinationConfiguration: Match.objectLike({
        EncryptionConfiguration: { KMSEncryptionConfig: { AWSKMSKeyARN: dataKeyRef } },
      }),
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: dataKeyRef });
  });

  it('traces every function with X-Ray and gives Powertools the per-stack metrics namespace', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables).toMatchObject({
        POWERTOOLS_METRICS_NAMESPACE: 'Leakwatch/Test',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
    }
  });

  it('alarms to the alert topic on iterator age, dead letters, errors, throttles and persistent record failures', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const topic = [{ Ref: expect.stringMatching(/^AlertingTopic/) }];
    const byMetric = (name: string) => alarms.filter((a) => a.MetricName === name);
    // Every alarm notifies the topic when it fires and when it recovers (the notify failure alarm on firing).
    for (const a of alarms) expect(a.AlarmActions).toEqual(topic);
    expect(byMetric('IteratorAge').map((a) => [a.Namespace, a.Statistic, a.Threshold])).toEqual([
      ['AWS/Lambda', 'Maximum', 900000],
      ['AWS/Lambda', 'Maximum', 900000],
    ]);
    expect(byMetric('Errors')).toHaveLength(3);
    expect(byMetric('Throttles')).toHaveLength(3);
    const depth = byMetric('ApproximateNumberOfMessagesVisible');
    expect(depth.map((a) => a.Dimensions[0].Value['Fn::GetAtt'][0]).sort()).toEqual([
      expect.stringMatching(/^IngestDeadLetterQueue/),
      expect.stringMatching(/^NotifyFailedDeliveries/),
    ]);
    const failures = byMetric('FailedRecords')[0];
    expect(failures).toMatchObject({
      Namespace: 'Leakwatch/Test',
      Dimensions: [{ Name: 'service', Value: 'leakwatch-ingest' }],
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    expect(byMetric('ArchiveFailures')).toHaveLength(1);
  });

  it("has a dashboard of the pipeline that shows the functions' own metrics", () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const name of [
      'FlowsCounted',
      'Findings',
      'AlertsRaised',
      'MalformedRecords',
      'FailedRecords',
      'NotificationsDelivered',
      'IteratorAge',
      'IncomingRecords',
    ])
      expect(body).toContain(name);
    template.hasOutput('DashboardName', {});
  });

  it('outputs a probe role and policy that may only put records on the flow stream', () => {
    const policy = Object.values(template.findResources('AWS::IAM::ManagedPolicy'))[0]!;
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^IngestFlowStream/), 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
        Resource: dataKey,
      },
    ]);
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [{ Ref: Match.stringLikeRegexp('^ProbePutPolicy') }],
      MaxSessionDuration: 43200,
    });
    template.hasOutput('ProbeRoleArn', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ProbeRole'), 'Arn'] },
    });
    template.hasOutput('ProbePolicyArn', { Value: { Ref: Match.stringLikeRegexp('^ProbePutPolicy') } });
  });

  it('runs the ingest function on Node.js 24 from the esbuild bundle', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: Match.anyValue(),
          BASELINE_BUILDS: '1',
          DEAD_LETTER_QUEUE_URL: Match.anyValue(),
          LEAKWATCH_IP_TABLE: '/var/task/data/ip-table.bin',
        }),
      },
    });
  });

  it('maps the stream with partial batch responses, bisect, bounded retries and age, and an SQS on-failure destination', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'TRIM_HORIZON',
      // Large batches by default: ingest writes each item once per batch (docs/cost.md).
      BatchSize: 10_000,
      MaximumBatchingWindowInSeconds: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 86400,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] } },
      },
    });
  });

  it('keeps history in an on-demand, encrypted table with point-in-time recovery, retained on delete', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
    });
  });

  it('keeps the digest key in Secrets Manager, retained, readable by the function only', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        GenerateSecretString: Match.objectLike({
          PasswordLength: 64,
          ExcludeCharacters: 'ghijklmnopqrstuvwxyz',
        }),
      }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ DIGEST_KEY_SECRET_ARN: { Ref: Match.stringLikeRegexp('DigestKey') } }),
      },
    });
    template.hasOutput('DigestKeySecretArn', {});
  });

  it('subscribes the alert e-mail to an encrypted topic', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'team@example.com',
    });
  });

  it('grants the function only what it uses', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const actions = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) => s.Action),
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        'sns:Publish',
        'kinesis:GetRecords',
        'dynamodb:PutItem',
        'secretsmanager:GetSecretValue',
      ]),
    );
    expect(actions).not.toContain('*');
    expect(actions.filter((a) => a.endsWith(':*'))).toEqual([]);
  });

  it('delivers notifications from the table stream (new alert events only), with a failure queue and alarm', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HistoryTable'), 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT'],
              dynamodb: { NewImage: { type: { S: ['alert-event'] } } },
            }),
          },
        ],
      },
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertingTopic') }],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('deliver alert notifications'),
      Environment: { Variables: Match.objectLike({ ALERT_TOPIC_ARN: Match.anyValue() }) },
    });
  });

  it('subscribes SMS, reads the Slack webhook from Secrets Manager, and sets up AWS Chatbot when asked', () => {
    const full = Template.fromStack(
      new LeakwatchStack(new App(), 'Full', {
        alertSms: '+4915112345678',
        slackWebhookSecretName: 'leakwatch/slack-webhook',
        slackWorkspaceId: 'T0123ABCD',
        slackChannelId: 'C0123ABCD',
        baselineBuilds: 3,
      }),
    );
    full.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'sms', Endpoint: '+4915112345678' });
    full.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0123ABCD',
      SnsTopicArns: [{ Ref: Match.stringLikeRegexp('^AlertingTopic') }],
    });
    full.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SLACK_WEBHOOK_SECRET_ID: 'leakwatch/slack-webhook' }) },
    });
    full.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ BASELINE_BUILDS: '3' }) },
    });
  });

  it('posts to Slack as an app (threads) when given its secret, and lets only the notify function read it', () => {
    const app = Template.fromStack(
      new LeakwatchStack(new App(), 'SlackApp', { slackAppSecretName: 'leakwatch/slack-app' }),
    );
    app.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('deliver alert notifications'),
      Environment: { Variables: Match.objectLike({ SLACK_APP_SECRET_ID: 'leakwatch/slack-app' }) },
    });
    const readers = Object.values(app.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes('secret:leakwatch/slack-app'),
    );
    expect(readers).toHaveLength(1);
    expect(JSON.stringify(readers[0])).toContain('secretsmanager:GetSecretValue');
    expect(() => readDeploymentConfig((key) => ({ slackAppSecretName: 'no spaces allowed' })[key])).toThrow(
      /context slackAppSecretName "no spaces allowed" is not a Secrets Manager secret name/,
    );
  });

  it('takes the ingest batch size and window from the deployment settings', () => {
    const small = Template.fromStack(
      new LeakwatchStack(new App(), 'SmallBatches', { ingestBatchSize: 500, ingestBatchWindowSeconds: 0 }),
    );
    small.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 0,
    });
  });

  it('creates no subscription without an alert e-mail', () => {
    const bare = Template.fromStack(new LeakwatchStack(new App(), 'Bare'));

    bare.resourceCountIs('AWS::SNS::Subscription', 0);
  });
  it('archives flows: Firehose converts rows to Parquet with the Glue schema, partitioned by day and model', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'DirectPut',
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: 'flows/dt=!{partitionKeyFromQuery:dt}/model=!{partitionKeyFromQuery:model}/',
        ErrorOutputPrefix: Match.stringLikeRegexp('^errors/'),
        DynamicPartitioningConfiguration: { Enabled: true },
        BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 128 },
        ProcessingConfiguration: {
          Enabled: true,
          // Ingest packs up to 500 rows in a record: split back into rows before partitioning.
          Processors: [
            {
              Type: 'RecordDeAggregation',
              Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }],
            },
            Match.objectLike({
              Type: 'MetadataExtraction',
              Parameters: Match.arrayWith([
                { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{dt: .dt, model: .model}' },
              ]),
            }),
          ],
        },
        DataFormatConversionConfiguration: Match.objectLike({
          Enabled: true,
          InputFormatConfiguration: { Deserializer: { OpenXJsonSerDe: {} } },
          OutputFormatConfiguration: { Serializer: { ParquetSerDe: {} } },
          SchemaConfiguration: Match.objectLike({ DatabaseName: 'test_archive', VersionId: 'LATEST' }),
        }),
      }),
    });
    const tables = Object.values(template.findResources('AWS::Glue::Table'));
    expect(tables).toHaveLength(1);
    const input = tables[0]!.Properties.TableInput;
    expect(input.StorageDescriptor.Columns).toEqual(
      ARCHIVE_COLUMNS.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
    );
    expect(input.PartitionKeys.map((k: { Name: string }) => k.Name)).toEqual(['dt', 'model']);
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe(
      'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
    );
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    });
  });

  it('saves every saved query in the archive workgroup, and outputs what the CLI needs', () => {
    const named = Object.values(template.findResources('AWS::Athena::NamedQuery')).map((r) => r.Properties);
    expect(named.map((q) => [q.Name, q.QueryString, q.Database])).toEqual(
      SAVED_QUERIES.map((q) => [q.name, q.sql, 'test_archive']),
    );
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'Test-archive',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: Match.objectLike({
          EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: dataKeyRef },
        }),
      }),
    });
    template.hasOutput('ArchiveWorkGroup', { Value: 'Test-archive' });
    template.hasOutput('ArchiveDatabase', { Value: 'test_archive' });
  });

  it('lets the ingest function put records on the delivery stream and add partitions to the flows table only', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('IngestIngestFunctionRole') }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const firehose = statements.find((s) => [s.Action].flat().includes('firehose:PutRecordBatch'));
    expect(firehose?.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ArchiveDeliveryStream/), 'Arn'],
    });
    const glue = statements.find((s) => [s.Action].flat().includes('glue:BatchCreatePartition'));
    expect(JSON.stringify(glue?.Resource)).toContain(':table/test_archive/flows');
    expect(statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('glue:'))).length).toBe(1);
  });
});

describe('readDeploymentConfig', () => {
  const from = (context: Record<string, unknown>) => readDeploymentConfig((key) => context[key]);

  it('accepts valid settings and rejects each bad one naming it, with an example', () => {
    expect(from({ alertEmail: 'team@example.com', baselineBuilds: '2' })).toEqual({
      alertEmail: 'team@example.com',
      baselineBuilds: 2,
    });
    expect(from({})).toEqual({});
    expect(() => from({ alertEmail: 'team' })).toThrow(
      new DeploymentConfigError(
        'context alertEmail "team" is not an e-mail address (example: npx cdk deploy -c alertEmail=team@example.com)',
      ),
    );
    expect(() => from({ alertSms: '0151 123' })).toThrow(
      /context alertSms "0151 123" is not a phone number in E.164 form/,
    );
    expect(() => from({ baselineBuilds: '0' })).toThrow(
      /baselineBuilds "0" is not a whole number from 1 to 10/,
    );
    expect(() => from({ slackWorkspaceId: 'T0123ABCD' })).toThrow(
      /needs both slackWorkspaceId and slackChannelId/,
    );
    expect(() => from({ slackWebhookSecretName: 'has space' })).toThrow(/not a Secrets Manager secret name/);
  });

  it('checks retention periods, the probe principal and the stack name', () => {
    expect(
      from({
        streamRetentionHours: '48',
        deadLetterRetentionDays: 7,
        logRetentionDays: '90',
        probePrincipalArn: 'arn:aws:iam::123456789012:role/lab-host',
      }),
    ).toEqual({
      streamRetentionHours: 48,
      deadLetterRetentionDays: 7,
      logRetentionDays: 90,
      probePrincipalArn: 'arn:aws:iam::123456789012:role/lab-host',
    });
    expect(() => from({ streamRetentionHours: '12' })).toThrow(
      new DeploymentConfigError(
        'context streamRetentionHours "12" is not a whole number from 24 to 8760 (example: npx cdk deploy -c streamRetentionHours=168)',
      ),
    );
    expect(() => from({ deadLetterRetentionDays: '15' })).toThrow(/from 1 to 14/);
    expect(() => from({ logRetentionDays: '100' })).toThrow(
      /context logRetentionDays 100 is not a retention CloudWatch Logs accepts \(one of 1, 3, 5, .*, 3653; example/,
    );
    expect(() => from({ probePrincipalArn: 'lab-host' })).toThrow(/not an IAM role or user ARN/);
    expect(from({ ingestBatchSize: '2000', ingestBatchWindowSeconds: '30' })).toEqual({
      ingestBatchSize: 2000,
      ingestBatchWindowSeconds: 30,
    });
    expect(() => from({ ingestBatchSize: '20000' })).toThrow(
      new DeploymentConfigError(
        'context ingestBatchSize "20000" is not a whole number from 1 to 10000 (example: npx cdk deploy -c ingestBatchSize=5000)',
      ),
    );
    expect(() => from({ ingestBatchWindowSeconds: 'ten' })).toThrow(
      /context ingestBatchWindowSeconds "ten" is not a whole number from 0 to 300/,
    );
    expect(checkStackName(undefined)).toBe('Leakwatch');
    expect(checkStackName('Lab-2')).toBe('Lab-2');
    expect(() => checkStackName('2lab_x')).toThrow(
      /context stackName "2lab_x" is not a CloudFormation stack name/,
    );
  });

  it('applies the retention settings to the stream, the queues and the function logs', () => {
    const custom = Template.fromStack(
      new LeakwatchStack(new App(), 'Custom', {
        streamRetentionHours: 48,
        deadLetterRetentionDays: 3,
        logRetentionDays: 90,
        probePrincipalArn: 'arn:aws:iam::123456789012:role/lab-host',
      }),
    );
    custom.hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 48 });
    for (const queue of Object.values(custom.findResources('AWS::SQS::Queue')))
      expect(queue.Properties.MessageRetentionPeriod).toBe(3 * 86400);
    const logGroups = Object.entries(custom.findResources('AWS::Logs::LogGroup'));
    const functionLogs = logGroups.filter(([id]) => /IngestLogs|NotifyLogs|QueryLogs/.test(id));
    expect(functionLogs.map(([, g]) => g.Properties.RetentionInDays)).toEqual([90, 90, 90]);
    custom.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { AWS: 'arn:aws:iam::123456789012:role/lab-host' } })],
      },
    });
  });

  it('serves the query API with IAM authorisation on every route, as docs/openapi.json describes it', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route');
    const keys = Object.values(routes).map((r) => r.Properties.RouteKey as string);
    expect(keys.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of Object.values(routes)) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
    const documented = Object.entries(openApi.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(keys.sort());
  });

  it('lets the query function read the table and update alerts, nothing else', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('QueryQueryFunctionRole') }] },
    });
    const actions = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) =>
        Array.isArray(s.Action) ? s.Action : [s.Action],
      ),
    );
    expect(actions).toEqual(
      expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem']),
    );
    expect(actions.filter((a) => a.startsWith('dynamodb:') && /Put|Delete|BatchWrite/.test(a))).toEqual([]);
    // Logs: its own log group only (no AWSLambdaBasicExecutionRole with logs on every group).
    const logs = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).filter(
        (s) => [s.Action].flat().some((a) => a.startsWith('logs:')),
      ),
    );
    expect(logs.map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^QueryQueryLogs/), 'Arn'] },
    ]);
    // The functions' roles carry no managed policy (the probe role is the only role with one).
    const withManaged = template.findResources('AWS::IAM::Role', {
      Properties: { ManagedPolicyArns: Match.anyValue() },
    });
    expect(Object.keys(withManaged)).toEqual([expect.stringMatching(/^ProbeRole/)]);
  });

  it('indexes personal-data observations by organisation and by country (sparse, no counters projected)', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        Match.objectLike({
          IndexName: 'sentByOrganisation',
          KeySchema: [
            { AttributeName: 'sentOrg', KeyType: 'HASH' },
            { AttributeName: 'sentKey', KeyType: 'RANGE' },
          ],
          Projection: Match.objectLike({
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: Match.arrayWith(['build', 'host']),
          }),
        }),
        Match.objectLike({ IndexName: 'sentByCountry' }),
        Match.objectLike({
          IndexName: 'alertsByState',
          KeySchema: [
            { AttributeName: 'state', KeyType: 'HASH' },
            { AttributeName: 'alertOrder', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ]),
    });
  });
});
