/** Deployment settings read from CDK context (`-c name=value` or cdk.json), validated at synth. */
export interface DeploymentConfig {
  /** E-mail address subscribed to the alert topic. */
  readonly alertEmail?: string;
  /** Phone number (E.164) subscribed to the alert topic by SMS. */
  readonly alertSms?: string;
  /** Secrets Manager secret (name) holding the Slack incoming-webhook URL. */
  readonly slackWebhookSecretName?: string;
  /** AWS Chatbot: Slack workspace (team) id and channel id, both or neither. */
  readonly slackWorkspaceId?: string;
  readonly slackChannelId?: string;
  /** How many previous builds of a line form a build's baseline (1–10). */
  readonly baselineBuilds?: number;
}

export class DeploymentConfigError extends Error {
  override name = 'DeploymentConfigError';
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Reads and checks every setting; the message names the setting, what is wrong and an example. */
export function readDeploymentConfig(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const text = (key: string, pattern: RegExp, example: string, what: string): string | undefined => {
    const value = tryGetContext(key);
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string' || !pattern.test(value)) {
      throw new DeploymentConfigError(
        `context ${key} ${JSON.stringify(value)} is not ${what} (example: npx cdk deploy -c ${key}=${example})`,
      );
    }
    return value;
  };
  const alertEmail = text('alertEmail', EMAIL, 'team@example.com', 'an e-mail address');
  const alertSms = text('alertSms', E164, '+4915112345678', 'a phone number in E.164 form');
  const slackWebhookSecretName = text(
    'slackWebhookSecretName',
    SECRET_NAME,
    'leakwatch/slack-webhook',
    'a Secrets Manager secret name',
  );
  const slackWorkspaceId = text('slackWorkspaceId', /^T[A-Z0-9]{6,}$/, 'T0123ABCD', 'a Slack workspace id');
  const slackChannelId = text('slackChannelId', /^[CG][A-Z0-9]{6,}$/, 'C0123ABCD', 'a Slack channel id');
  if ((slackWorkspaceId === undefined) !== (slackChannelId === undefined)) {
    throw new DeploymentConfigError(
      'AWS Chatbot needs both slackWorkspaceId and slackChannelId (example: -c slackWorkspaceId=T0123ABCD -c slackChannelId=C0123ABCD)',
    );
  }
  const depth = tryGetContext('baselineBuilds');
  let baselineBuilds: number | undefined;
  if (depth !== undefined && depth !== '') {
    baselineBuilds = Number(depth);
    if (!Number.isInteger(baselineBuilds) || baselineBuilds < 1 || baselineBuilds > 10) {
      throw new DeploymentConfigError(
        `context baselineBuilds ${JSON.stringify(depth)} is not a whole number from 1 to 10 (example: npx cdk deploy -c baselineBuilds=2)`,
      );
    }
  }
  return {
    ...(alertEmail ? { alertEmail } : {}),
    ...(alertSms ? { alertSms } : {}),
    ...(slackWebhookSecretName ? { slackWebhookSecretName } : {}),
    ...(slackWorkspaceId ? { slackWorkspaceId } : {}),
    ...(slackChannelId ? { slackChannelId } : {}),
    ...(baselineBuilds !== undefined ? { baselineBuilds } : {}),
  };
}
