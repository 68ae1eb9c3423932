import { Alias } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertingProps {
  /**
   * Address subscribed to the alert topic (it must confirm the subscription e-mail).
   * @default no subscription; subscribe later in the console or with the CLI
   */
  readonly alertEmail?: string;
}

/** The SNS topic alerts are published to. */
export class Alerting extends Construct {
  readonly topic: Topic;

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    this.topic = new Topic(this, 'Topic', {
      displayName: 'leakwatch alerts',
      enforceSSL: true,
      masterKey: Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
    });
    if (props.alertEmail) this.topic.addSubscription(new EmailSubscription(props.alertEmail));
  }
}
