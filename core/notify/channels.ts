import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  chatbotNotification,
  formatIncident,
  type IncidentMessage,
  slackIncidentMessage,
} from './incident.ts';

/** One way of telling people. `deliver` throws when the message did not get through. */
export interface NotificationChannel {
  /** Stable name, recorded per notification as it sends (`sns`, `slack`). */
  readonly name: string;
  /**
   * Sends one message about a notification. Returns the channel's reference to the message when
   * replies can be threaded under it (a Slack app's `ts`), so later messages of the incident go there.
   */
  deliver(message: IncidentMessage): Promise<{ thread?: string } | undefined>;
  /**
   * The channel itself skips what already arrived (the local outbox file reads itself back): a
   * delivery records no attempt before sending on it.
   */
  readonly deduplicates?: boolean;
  /**
   * After an interrupted delivery (the sender died between sending and recording the send):
   * whether the message arrived, asked of the channel (false: send it). A channel without this
   * method cannot tell, and the message is sent again saying it may repeat.
   */
  readonly arrived?:
    | ((message: IncidentMessage, since: Date) => Promise<{ thread?: string } | false>)
    | undefined;
}

export class SnsChannel implements NotificationChannel {
  readonly name = 'sns';
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async deliver(message: IncidentMessage): Promise<undefined> {
    const formatted = formatIncident(message);
    const { subject, text, attributes } = formatted;
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
          https: JSON.stringify(chatbotNotification(message, formatted)),
        }),
        // Lists as String.Array, which SNS filter policies match element by element.
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            Array.isArray(value)
              ? { DataType: 'String.Array', StringValue: JSON.stringify(value) }
              : { DataType: 'String', StringValue: value },
          ]),
        ),
      }),
    );
    return undefined;
  }
}

/** fetch says only "fetch failed"; the cause (refused, no such host, timeout) is what helps. */
async function post(
  fetchImpl: typeof fetch,
  url: string,
  what: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  try {
    return await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    throw new Error(`${what} unreachable: ${cause?.message ?? (error as Error).message}`, { cause: error });
  }
}

/**
 * Slack incoming webhook; the URL is a secret, fetched when first needed (Secrets Manager in AWS).
 * A webhook cannot reply in a thread: every message of an incident is a message of its own.
 */
export class SlackWebhookChannel implements NotificationChannel {
  readonly name = 'slack';
  constructor(
    private readonly webhookUrl: () => Promise<string | undefined> | string | undefined,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async deliver(message: IncidentMessage): Promise<undefined> {
    const url = await this.webhookUrl();
    if (!url) return undefined; // Slack not configured: nothing to deliver
    // The URL is a secret and stays out of every message.
    const response = await post(this.fetchImpl, url, 'Slack webhook', slackIncidentMessage(message));
    if (!response.ok) {
      throw new Error(`Slack webhook answered ${response.status} ${(await response.text()).slice(0, 200)}`);
    }
    return undefined;
  }
}

/** A Slack app's bot token and the channel it posts to (a Secrets Manager secret's JSON). */
export interface SlackAppConfig {
  readonly token: string;
  readonly channel: string;
}

/**
 * Reads a Slack app secret: `{"token": "xoxb-…", "channel": "C0123ABCD"}`. Throws naming what is
 * wrong, never the token.
 */
export function parseSlackAppSecret(text: string, where: string): SlackAppConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not JSON; expected {"token": "xoxb-…", "channel": "C0123ABCD"}`);
  }
  const { token, channel } = (value ?? {}) as Record<string, unknown>;
  if (typeof token !== 'string' || !/^xox[a-z]-/.test(token))
    throw new Error(`${where}: "token" must be a Slack bot token (xoxb-…)`);
  if (typeof channel !== 'string' || channel.length === 0)
    throw new Error(`${where}: "channel" must be the Slack channel's id (C0123ABCD) or name`);
  return { token, channel };
}

/**
 * A Slack app (bot token, `chat.postMessage`): an incident's first message starts a thread, and its
 * later messages (members that joined, the resolution, a reopening) go into that thread.
 */
export class SlackAppChannel implements NotificationChannel {
  readonly name = 'slack';
  constructor(
    private readonly config: () => Promise<SlackAppConfig> | SlackAppConfig,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly apiUrl = 'https://slack.com/api/chat.postMessage',
  ) {}

  async deliver(message: IncidentMessage): Promise<{ thread?: string }> {
    const { token, channel } = await this.config();
    const response = await post(
      this.fetchImpl,
      this.apiUrl,
      'Slack API',
      {
        channel,
        ...slackIncidentMessage(message),
        ...(message.thread ? { thread_ts: message.thread } : {}),
        // What `arrived` looks for after an interrupted delivery.
        metadata: { event_type: SLACK_EVENT_TYPE, event_payload: slackPayload(message) },
      },
      { authorization: `Bearer ${token}` },
    );
    if (!response.ok) {
      throw new Error(`Slack API answered ${response.status} ${(await response.text()).slice(0, 200)}`);
    }
    const answer = (await response.json().catch(() => ({}))) as { ok?: boolean; ts?: string; error?: string };
    if (!answer.ok)
      throw new Error(`Slack chat.postMessage refused the message: ${answer.error ?? 'no reason given'}`);
    // A reply's ts is not a thread of its own: only a top-level message starts one.
    return message.thread || !answer.ts ? {} : { thread: answer.ts };
  }

  /**
   * Whether the message of an interrupted delivery is in the channel: its messages since the
   * attempt (a reply's thread when it was one) are read with their metadata
   * (conversations.history or conversations.replies; the app needs the channels:history scope)
   * and one carrying this notification's events is looked for.
   */
  async arrived(message: IncidentMessage, since: Date): Promise<{ thread?: string } | false> {
    const { token, channel } = await this.config();
    const method = message.thread ? 'conversations.replies' : 'conversations.history';
    const url = new URL(this.apiUrl.replace(/chat\.postMessage$/, method));
    url.searchParams.set('channel', channel);
    url.searchParams.set('oldest', String(Math.floor(since.getTime() / 1000) - 60));
    url.searchParams.set('limit', '200');
    url.searchParams.set('include_all_metadata', 'true');
    if (message.thread) url.searchParams.set('ts', message.thread);
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      const cause = (error as Error).cause as Error | undefined;
      throw new Error(`Slack API unreachable: ${cause?.message ?? (error as Error).message}`, {
        cause: error,
      });
    }
    const answer = (await response.json().catch(() => ({}))) as {
      ok?: boolean;
      error?: string;
      messages?: {
        ts?: string;
        thread_ts?: string;
        metadata?: { event_type?: string; event_payload?: unknown };
      }[];
    };
    if (!response.ok || !answer.ok)
      throw new Error(
        `Slack ${method} refused: ${answer.error ?? response.status} (the app needs channels:history to check an interrupted delivery)`,
      );
    const wanted = JSON.stringify(slackPayload(message));
    const found = (answer.messages ?? []).find(
      (m) =>
        m.metadata?.event_type === SLACK_EVENT_TYPE && JSON.stringify(m.metadata.event_payload) === wanted,
    );
    if (!found) return false;
    return message.thread || !found.ts ? {} : { thread: found.ts };
  }
}

/** Slack message metadata naming what a leakwatch message tells (a notification and its events). */
const SLACK_EVENT_TYPE = 'leakwatch_notification';
const slackPayload = (message: IncidentMessage) => ({
  notification: message.notification.notificationId,
  events: message.events
    .map((e) => e.eventId)
    .sort()
    .join(' '),
});
