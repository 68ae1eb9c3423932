import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { formatAlert, slackMessage } from '../alerts/formatAlert.ts';
import type { StoredNotification } from '../store/leakwatchStore.ts';

/** One way of telling people. `deliver` throws when the notification did not get through. */
export interface NotificationChannel {
  /** Stable name, recorded per notification once delivered (`sns`, `slack`). */
  readonly name: string;
  deliver(notification: StoredNotification): Promise<void>;
}

export class SnsChannel implements NotificationChannel {
  readonly name = 'sns';
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async deliver(n: StoredNotification): Promise<void> {
    const { subject, text, attributes } = formatAlert(n.alert, n.event, n.build);
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: subject,
        // Per protocol: the text for e-mail, the subject for SMS, and AWS Chatbot's custom
        // notification format for HTTPS (Chatbot's subscription).
        MessageStructure: 'json',
        Message: JSON.stringify({
          default: text,
          email: text,
          sms: subject,
          https: JSON.stringify(chatbotNotification(n, subject, text)),
        }),
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

/** Slack incoming webhook; the URL is a secret, fetched when first needed (Secrets Manager in AWS). */
export class SlackWebhookChannel implements NotificationChannel {
  readonly name = 'slack';
  constructor(
    private readonly webhookUrl: () => Promise<string | undefined> | string | undefined,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async deliver(n: StoredNotification): Promise<void> {
    const url = await this.webhookUrl();
    if (!url) return; // Slack not configured: nothing to deliver
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(slackMessage(n.alert, n.event, n.build)),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      // fetch says only "fetch failed"; the cause (refused, no such host, timeout) is what helps.
      // The URL is a secret and stays out of the message.
      const cause = (error as Error).cause as Error | undefined;
      throw new Error(`Slack webhook unreachable: ${cause?.message ?? (error as Error).message}`, {
        cause: error,
      });
    }
    if (!response.ok) {
      throw new Error(`Slack webhook answered ${response.status} ${(await response.text()).slice(0, 200)}`);
    }
  }
}

/** AWS Chatbot custom notification (version 1.0) for the topic's Chatbot subscription. */
export function chatbotNotification(n: StoredNotification, subject: string, text: string) {
  return {
    version: '1.0',
    source: 'custom',
    id: n.notificationId,
    content: {
      textType: 'client-markdown',
      title: subject,
      description: text.split('\n').slice(2).join('\n').slice(0, 3500),
      ...(n.alert.alertId
        ? {
            nextSteps: [
              `Verify: \`leakwatch alerts verify ${n.alert.alertId} --as true-positive|benign-positive|false-positive\``,
            ],
          }
        : {}),
    },
    metadata: {
      threadId: n.alert.alertId ?? n.notificationId,
      summary: subject,
      eventType: n.event,
      relatedResources: [n.alert.host],
      additionalContext: { model: n.alert.model, line: n.alert.line, build: n.build, rule: n.alert.rule },
    },
  };
}
