import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { requireEnv } from '../../core/config.ts';
import { type NotificationChannel, SlackWebhookChannel, SnsChannel } from '../../core/notify/channels.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { observability } from '../shared/observability.ts';
import { createNotifyHandler } from './createNotifyHandler.ts';

const obs = observability('notify');
const traced = <T>(client: T): T => obs.tracer.captureAWSv3Client(client);
const documents = documentClient(traced(new DynamoDBClient({})));
const secrets = traced(new SecretsManagerClient({}));
let slackUrl: Promise<string | undefined> | undefined;

const channels: NotificationChannel[] = [
  new SnsChannel(traced(new SNSClient({})), requireEnv('ALERT_TOPIC_ARN')),
];
const slackSecretId = process.env.SLACK_WEBHOOK_SECRET_ID;
if (slackSecretId) {
  // The webhook URL is read once per execution environment, when the first notification needs it.
  channels.push(
    new SlackWebhookChannel(() => {
      slackUrl ??= secrets
        .send(new GetSecretValueCommand({ SecretId: slackSecretId }))
        .then((s) => s.SecretString?.trim() || undefined)
        .catch((error) => {
          slackUrl = undefined; // try again next time
          throw error;
        });
      return slackUrl;
    }),
  );
}

export const handler = createNotifyHandler({
  observability: obs,
  store: new LeakwatchStore(documents, requireEnv('TABLE_NAME')),
  channels,
});
