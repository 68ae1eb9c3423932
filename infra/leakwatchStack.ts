import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { Alerting } from './stages/alerting.ts';
import { FlowArchive } from './stages/flowArchive.ts';
import { HistoryStore } from './stages/historyStore.ts';
import { IngestPipeline } from './stages/ingestPipeline.ts';
import { Notification } from './stages/notification.ts';
import { QueryApi } from './stages/queryApi.ts';

export interface LeakwatchStackProps extends StackProps, DeploymentConfig {}

/** One stack, one construct per pipeline stage: ingest (stream + function), history (table), archive (Firehose → S3 → Glue/Athena), alerting (topic), queries (API). */
export class LeakwatchStack extends Stack {
  constructor(scope: Construct, id: string, props: LeakwatchStackProps = {}) {
    super(scope, id, props);
    const history = new HistoryStore(this, 'History');
    const alerting = new Alerting(this, 'Alerting', {
      ...(props.alertEmail ? { alertEmail: props.alertEmail } : {}),
      ...(props.alertSms ? { alertSms: props.alertSms } : {}),
      ...(props.slackWorkspaceId && props.slackChannelId
        ? { chatbot: { slackWorkspaceId: props.slackWorkspaceId, slackChannelId: props.slackChannelId } }
        : {}),
    });
    const archive = new FlowArchive(this, 'Archive');
    const ingest = new IngestPipeline(this, 'Ingest', {
      history,
      archive,
      digestKey: history.digestKey,
      ...(props.baselineBuilds ? { baselineBuilds: props.baselineBuilds } : {}),
    });
    const notification = new Notification(this, 'Notify', {
      history,
      alertTopic: alerting.topic,
      ...(props.slackWebhookSecretName ? { slackWebhookSecretName: props.slackWebhookSecretName } : {}),
    });
    const queries = new QueryApi(this, 'Query', { history });

    new CfnOutput(this, 'FlowStreamName', {
      value: ingest.stream.streamName,
      description: 'leakwatch probe --kinesis-stream',
    });
    new CfnOutput(this, 'FlowStreamArn', { value: ingest.stream.streamArn });
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
    new CfnOutput(this, 'DigestKeySecretArn', {
      value: history.digestKey.secretArn,
      description: 'leakwatch devices register --stack reads the digest key from here',
    });
  }
}
