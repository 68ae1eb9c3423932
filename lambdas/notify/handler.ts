import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { requireEnv } from '../../core/config.ts';
import {
  type NotificationChannel,
  parseSlackAppSecret,
  SlackAppChannel,
  type SlackAppConfig,
  SlackWebhookChannel,
  SnsChannel,
} from '../../core/notify/channels.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { observability } from '../shared/observability.ts';
import { createNotifyHandler } from './createNotifyHandler.ts';

const obs = observability('notify');
const traced = <T>(client: T): T => obs.tracer.captureAWSv3Client(client);
const documents = documentClient(traced(new DynamoDBClient({})));
const secrets = traced(new SecretsManagerClient({}));

const channels: NotificationChannel[] = [
  new SnsChannel(traced(new SNSClient({})), requireEnv('ALERT_TOPIC_ARN')),
];
/** A secret's value, read once per execution environment when first needed (again after a failure). */
function secretOnce<T>(secretId: string, read: (text: string) => T): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= secrets
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((s) => read(s.SecretString?.trim() ?? ''))
      .catch((error) => {
        value = undefined; // try again next time
        throw error;
      });
    return value;
  };
}

// A Slack app (threads) when configured, else the incoming webhook.
const slackAppSecretId = process.env.SLACK_APP_SECRET_ID;
const slackWebhookSecretId = process.env.SLACK_WEBHOOK_SECRET_ID;
if (slackAppSecretId) {
  channels.push(
    new SlackAppChannel(
      secretOnce<SlackAppConfig>(slackAppSecretId, (text) =>
        parseSlackAppSecret(text, `secret ${slackAppSecretId}`),
      ),
    ),
  );
} else if (slackWebhookSecretId) {
  channels.push(new SlackWebhookChannel(secretOnce(slackWebhookSecretId, (text) => text || undefined)));
}

export const handler = createNotifyHandler({
  observability: obs,
  store: new LeakwatchStore(documents, requireEnv('TABLE_NAME')),
  channels,
});
