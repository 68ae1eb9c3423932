import { SlackChannelConfiguration } from 'aws-cdk-lib/aws-chatbot';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SmsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertingProps {
  /** The deployment's customer-managed key. */
  readonly key: IKey;
  /**
   * Address subscribed to the alert topic (it must confirm the subscription e-mail).
   * @default no subscription; subscribe later in the console or with the CLI
   */
  readonly alertEmail?: string;
  /** Phone number (E.164) subscribed by SMS. @default none */
  readonly alertSms?: string;
  /** AWS Chatbot delivers the topic to this Slack channel. @default no Chatbot */
  readonly chatbot?: { readonly slackWorkspaceId: string; readonly slackChannelId: string };
}

/** The SNS topic notifications are published to, with the subscriptions the deployment asked for. */
export class Alerting extends Construct {
  readonly topic: Topic;

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    this.topic = new Topic(this, 'Topic', {
      displayName: 'leakwatch alerts',
      enforceSSL: true,
      masterKey: props.key,
    });
    if (props.alertEmail) this.topic.addSubscription(new EmailSubscription(props.alertEmail));
    if (props.alertSms) this.topic.addSubscription(new SmsSubscription(props.alertSms));
    if (props.chatbot) {
      new SlackChannelConfiguration(this, 'Chatbot', {
        slackChannelConfigurationName: 'leakwatch-alerts',
        slackWorkspaceId: props.chatbot.slackWorkspaceId,
        slackChannelId: props.chatbot.slackChannelId,
        notificationTopics: [this.topic],
      });
    }
  }
}
