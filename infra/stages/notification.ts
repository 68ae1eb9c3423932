import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { HistoryStore } from './historyStore.ts';
import { leakwatchFunction } from './leakwatchFunction.ts';

export interface NotificationProps {
  readonly history: HistoryStore;
  readonly alertTopic: ITopic;
  /** The deployment's customer-managed key (the failure queue). */
  readonly key: IKey;
  /** Secret whose value is the Slack incoming-webhook URL. @default no Slack delivery */
  readonly slackWebhookSecretName?: string;
  /**
   * Secret whose value is a Slack app's `{"token": "xoxb-…", "channel": "C…"}`: posts with
   * chat.postMessage and threads an incident's later messages; used instead of the webhook.
   * @default the webhook, if any
   */
  readonly slackAppSecretName?: string;
  /** How long the failure queue keeps messages. @default Duration.days(14) */
  readonly deadLetterRetention?: Duration | undefined;
  /** How long the function's logs are kept. @default one month */
  readonly logRetention?: RetentionDays | undefined;
}

/**
 * The outbox's delivery side: alert events written by ingest reach the notify function through
 * the table's stream (filtered to new alert events); it delivers the notification each joined (one
 * per line, build, organisation and event) to SNS and Slack. Failures are retried (bisect, partial batch responses); what keeps failing goes
 * to a queue with an alarm on the alert topic, and the item stays undelivered in the table.
 */
export class Notification extends Construct {
  readonly function: NodejsFunction;
  readonly failureQueue: Queue;
  readonly failureAlarm: Alarm;
  readonly slackSecret?: ISecret;
  readonly slackAppSecret?: ISecret;

  constructor(scope: Construct, id: string, props: NotificationProps) {
    super(scope, id);
    this.failureQueue = new Queue(this, 'FailedDeliveries', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: props.deadLetterRetention ?? Duration.days(14),
    });
    if (props.slackWebhookSecretName) {
      this.slackSecret = Secret.fromSecretNameV2(this, 'SlackWebhook', props.slackWebhookSecretName);
    }
    if (props.slackAppSecretName) {
      this.slackAppSecret = Secret.fromSecretNameV2(this, 'SlackApp', props.slackAppSecretName);
    }
    this.function = leakwatchFunction(this, 'NotifyFunction', {
      handler: 'notify',
      memorySize: 256,
      timeout: Duration.seconds(30),
      description: 'leakwatch: deliver alert notifications from the outbox (SNS, Slack)',
      logGroupId: 'NotifyLogs',
      logRetention: props.logRetention,
      environment: {
        TABLE_NAME: props.history.table.tableName,
        ALERT_TOPIC_ARN: props.alertTopic.topicArn,
        ...(props.slackWebhookSecretName ? { SLACK_WEBHOOK_SECRET_ID: props.slackWebhookSecretName } : {}),
        ...(props.slackAppSecretName ? { SLACK_APP_SECRET_ID: props.slackAppSecretName } : {}),
      },
    });
    this.function.addEventSource(
      // (Table's optional tableStreamArn differs from ITable's only under exactOptionalPropertyTypes.)
      new DynamoEventSource(props.history.table as ITable, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 10,
        maxRecordAge: Duration.days(1),
        onFailure: new SqsDlq(this.failureQueue),
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { NewImage: { type: { S: FilterRule.isEqual('alert-event') } } },
          }),
        ],
      }),
    );
    props.history.table.grantReadWriteData(this.function);
    props.history.acknowledgeIndexAccess(this.function.role!);
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        "it is the on-failure destination itself of the notify function's stream; an alarm watches its depth",
    });
    props.alertTopic.grantPublish(this.function);
    this.slackSecret?.grantRead(this.function);
    this.slackAppSecret?.grantRead(this.function);

    this.failureAlarm = new Alarm(this, 'FailedDeliveriesAlarm', {
      alarmDescription:
        'leakwatch notifications could not be delivered after every retry: they stay undelivered in the outbox; see the notify function logs',
      metric: this.failureQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.failureAlarm.addAlarmAction(new SnsAction(props.alertTopic));
  }
}
