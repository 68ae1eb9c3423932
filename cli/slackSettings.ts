import { parseSlackAppSecret, type SlackAppConfig } from '../core/notify/channels.ts';

/** Slack in local mode: an app (threads) or an incoming webhook, from the environment. */
export interface LocalSlackSettings {
  readonly slackWebhookUrl?: string;
  readonly slackApp?: SlackAppConfig & { readonly apiUrl?: string };
}

export class SlackSettingsError extends Error {
  override name = 'SlackSettingsError';
}

/**
 * `LEAKWATCH_SLACK_TOKEN` (a bot token, xoxb-…) with `LEAKWATCH_SLACK_CHANNEL` (a channel id) post
 * as a Slack app, which threads an incident's later messages; else `LEAKWATCH_SLACK_WEBHOOK` posts
 * to an incoming webhook. `LEAKWATCH_SLACK_API` replaces chat.postMessage's URL (a proxy, a test).
 * Errors never repeat the token.
 */
export function slackSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): LocalSlackSettings {
  const token = env.LEAKWATCH_SLACK_TOKEN?.trim();
  const channel = env.LEAKWATCH_SLACK_CHANNEL?.trim();
  if (token || channel) {
    if (!token || !channel) {
      throw new SlackSettingsError(
        `${token ? 'LEAKWATCH_SLACK_CHANNEL' : 'LEAKWATCH_SLACK_TOKEN'} is not set: a Slack app needs both LEAKWATCH_SLACK_TOKEN (xoxb-…) and LEAKWATCH_SLACK_CHANNEL (C0123ABCD)`,
      );
    }
    let config: SlackAppConfig;
    try {
      config = parseSlackAppSecret(JSON.stringify({ token, channel }), 'LEAKWATCH_SLACK_TOKEN');
    } catch (error) {
      throw new SlackSettingsError((error as Error).message.replace('"token" must be', 'must be'));
    }
    const apiUrl = env.LEAKWATCH_SLACK_API?.trim();
    if (apiUrl && !/^https?:\/\//.test(apiUrl))
      throw new SlackSettingsError(`LEAKWATCH_SLACK_API "${apiUrl}" is not an http(s) URL`);
    return { slackApp: { ...config, ...(apiUrl ? { apiUrl } : {}) } };
  }
  const webhook = env.LEAKWATCH_SLACK_WEBHOOK?.trim();
  return webhook ? { slackWebhookUrl: webhook } : {};
}
