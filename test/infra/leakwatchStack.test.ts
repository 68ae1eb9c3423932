import { describe, expect, it } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DeploymentConfigError, readDeploymentConfig } from '../../infra/config.ts';
import { LeakwatchStack } from '../../infra/leakwatchStack.ts';

// Synthesizing bundles the ingest function with the local esbuild (no Docker), once for the file.
const template = Template.fromStack(
  new LeakwatchStack(new App(), 'Test', { alertEmail: 'team@example.com' }),
);

describe('LeakwatchStack', () => {
  it('has an on-demand, encrypted Kinesis stream', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  it('runs the ingest function on Node.js 22 from the esbuild bundle', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: Match.anyValue(),
          ALERT_TOPIC_ARN: Match.anyValue(),
          DEAD_LETTER_QUEUE_URL: Match.anyValue(),
          LEAKWATCH_COUNTRY_MMDB: '/var/task/data/country.mmdb',
          LEAKWATCH_ASN_TABLE: '/var/task/data/asn-table.bin',
        }),
      },
    });
  });

  it('maps the stream with partial batch responses, bisect, bounded retries and age, and an SQS on-failure destination', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 86400,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('keeps history in an on-demand, encrypted table with point-in-time recovery, retained on delete', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
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

  it('creates no subscription without an alert e-mail', () => {
    const bare = Template.fromStack(new LeakwatchStack(new App(), 'Bare'));

    bare.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('readDeploymentConfig', () => {
  it('accepts an e-mail and rejects anything else with an example', () => {
    expect(readDeploymentConfig(() => 'team@example.com')).toEqual({ alertEmail: 'team@example.com' });
    expect(readDeploymentConfig(() => undefined)).toEqual({});
    expect(() => readDeploymentConfig(() => 'team')).toThrow(
      new DeploymentConfigError(
        'context alertEmail "team" is not an e-mail address (example: npx cdk deploy -c alertEmail=team@example.com)',
      ),
    );
  });
});
