import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Alert } from './alert.ts';
import { formatAlert } from './formatAlert.ts';

/** Delivers an alert to people. Throws when the alert could not be delivered. */
export interface AlertPublisher {
  publish(alert: Alert): Promise<void>;
}

export class SnsAlertPublisher implements AlertPublisher {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(alert: Alert): Promise<void> {
    const { subject, text, attributes } = formatAlert(alert);
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: subject,
        Message: text,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            { DataType: 'String', StringValue: value },
          ]),
        ),
      }),
    );
  }
}
