import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { Alerting } from './stages/alerting.ts';
import { DataKey } from './stages/dataKey.ts';
import { FlowArchive } from './stages/flowArchive.ts';
import { HistoryStore } from './stages/historyStore.ts';
import { IngestPipeline } from './stages/ingestPipeline.ts';
import { Notification } from './stages/notification.ts';
import { Operations } from './stages/operations.ts';
import { ProbeIdentity } from './stages/probeIdentity.ts';
import { QueryApi } from './stages/queryApi.ts';

export interface LeakwatchStackProps extends StackProps, DeploymentConfig {}

/** One stack, one construct per pipeline stage: ingest (stream + function), history (table), archive (Firehose → S3 → Glue/Athena), alerting (topic), queries (API). */
export class LeakwatchStack extends Stack {
  constructor(scope: Construct, id: string, props: LeakwatchStackProps = {}) {
    super(scope, id, props);
    const dataKey = new DataKey(this, 'DataKey');
    const { key } = dataKey;
    // (RetentionDays values are the day counts; readDeploymentConfig admits only those.)
    const logRetention = props.logRetentionDays as RetentionDays | undefined;
    const deadLetterRetention =
      props.deadLetterRetentionDays !== undefined ? Duration.days(props.deadLetterRetentionDays) : undefined;
    const history = new HistoryStore(this, 'History', { key });
    const alerting = new Alerting(this, 'Alerting', {
      key,
      ...(props.alertEmail ? { alertEmail: props.alertEmail } : {}),
      ...(props.alertSms ? { alertSms: props.alertSms } : {}),
      ...(props.slackWorkspaceId && props.slackChannelId
        ? { chatbot: { slackWorkspaceId: props.slackWorkspaceId, slackChannelId: props.slackChannelId } }
        : {}),
    });
    const archive = new FlowArchive(this, 'Archive', { key });
    const ingest = new IngestPipeline(this, 'Ingest', {
      history,
      key,
      archive,
      digestKey: history.digestKey,
      logRetention,
      deadLetterRetention,
      ...(props.streamRetentionHours ? { streamRetention: Duration.hours(props.streamRetentionHours) } : {}),
      ...(props.baselineBuilds ? { baselineBuilds: props.baselineBuilds } : {}),
      batchSize: props.ingestBatchSize,
      batchWindowSeconds: props.ingestBatchWindowSeconds,
    });
    const notification = new Notification(this, 'Notify', {
      history,
      key,
      alertTopic: alerting.topic,
      logRetention,
      deadLetterRetention,
      ...(props.slackWebhookSecretName ? { slackWebhookSecretName: props.slackWebhookSecretName } : {}),
      ...(props.slackAppSecretName ? { slackAppSecretName: props.slackAppSecretName } : {}),
    });
    const queries = new QueryApi(this, 'Query', { history, logRetention });
    const probe = new ProbeIdentity(this, 'Probe', {
      stream: ingest.stream,
      ...(props.probePrincipalArn ? { trustedPrincipalArn: props.probePrincipalArn } : {}),
    });
    const operations = new Operations(this, 'Operations', {
      alertTopic: alerting.topic,
      stream: ingest.stream,
      ingest: ingest.function,
      notify: notification.function,
      query: queries.function,
      api: queries.api,
      deadLetterQueue: ingest.deadLetterQueue,
      failedNotifications: notification.failureQueue,
    });
    dataKey.acknowledgeGrants(
      ingest.function.role!,
      notification.function.role!,
      probe.policy,
      archive.deliveryStream,
    );

    new CfnOutput(this, 'FlowStreamName', {
      value: ingest.stream.streamName,
      description: 'leakwatch probe --kinesis-stream',
    });
    new CfnOutput(this, 'FlowStreamArn', { value: ingest.stream.streamArn });
    new CfnOutput(this, 'ProbeRoleArn', {
      value: probe.role.roleArn,
      description:
        'role_arn of the lab host profile the probe runs with (put records on the flow stream only)',
    });
    new CfnOutput(this, 'ProbePolicyArn', {
      value: probe.policy.managedPolicyArn,
      description: 'the same permissions as a managed policy, to attach to a lab host role or user',
    });
    new CfnOutput(this, 'HistoryTableName', { value: history.table.tableName });
    new CfnOutput(this, 'AlertTopicArn', { value: alerting.topic.topicArn });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: ingest.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'FailedNotificationsQueueUrl', { value: notification.failureQueue.queueUrl });
    new CfnOutput(this, 'QueryApiUrl', {
      value: queries.api.apiEndpoint,
      description: 'fleet-history API (IAM authorisation, SigV4; docs/openapi.yaml)',
    });
    new CfnOutput(this, 'ArchiveBucketName', {
      value: archive.bucket.bucketName,
      description: 'flow archive: Parquet under flows/dt=<day>/model=<model>/',
    });
    new CfnOutput(this, 'ArchiveDatabase', {
      value: archive.databaseName,
      description: 'Glue database of the flows table',
    });
    new CfnOutput(this, 'ArchiveWorkGroup', {
      value: archive.workGroupName,
      description: 'Athena workgroup with the saved queries (leakwatch archive query --stack)',
    });
    new CfnOutput(this, 'DashboardName', {
      value: operations.dashboard.dashboardName,
      description: 'CloudWatch dashboard of the pipeline',
    });
    new CfnOutput(this, 'DigestKeySecretArn', {
      value: history.digestKey.secretArn,
      description: 'leakwatch devices register --stack reads the digest key from here',
    });
  }
}
