import { appendFile } from 'node:fs/promises';
import type { Alert } from '../core/alerts/alert.ts';
import { formatAlert, slackMessage } from '../core/alerts/formatAlert.ts';
import type { AlertPublisher } from '../core/alerts/publisher.ts';

export interface LocalAlertPublisherOptions {
  /** JSONL file every alert is appended to (SNS has no local stand-in). */
  readonly outboxPath: string;
  /** Slack incoming webhook (LEAKWATCH_SLACK_WEBHOOK); nothing is posted when absent. */
  readonly slackWebhookUrl?: string;
  readonly print?: (text: string) => void;
  readonly fetchImpl?: typeof fetch;
}

/** Local mode's stand-in for SNS: the console, an outbox file, and Slack when a webhook is set. */
export class LocalAlertPublisher implements AlertPublisher {
  readonly published: Alert[] = [];
  constructor(private readonly options: LocalAlertPublisherOptions) {}

  async publish(alert: Alert): Promise<void> {
    const { subject, text, attributes } = formatAlert(alert);
    if (this.options.slackWebhookUrl) {
      const response = await (this.options.fetchImpl ?? fetch)(this.options.slackWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(slackMessage(alert)),
      });
      if (!response.ok) throw new Error(`Slack webhook answered ${response.status} ${await response.text()}`);
    }
    await appendFile(
      this.options.outboxPath,
      `${JSON.stringify({ subject, message: text, attributes, alert })}\n`,
    );
    (this.options.print ?? console.log)(`\n  ALERT ${subject}\n${text.replace(/^/gm, '    ')}`);
    this.published.push(alert);
  }
}
