/** Deployment settings read from CDK context (`-c name=value` or cdk.json), validated at synth. */
export interface DeploymentConfig {
  /** E-mail address subscribed to the alert topic. */
  readonly alertEmail?: string;
  /** Phone number (E.164) subscribed to the alert topic by SMS. */
  readonly alertSms?: string;
  /** Secrets Manager secret (name) holding the Slack incoming-webhook URL. */
  readonly slackWebhookSecretName?: string;
  /**
   * Secrets Manager secret (name) holding a Slack app's bot token and channel
   * (`{"token": "xoxb-…", "channel": "C0123ABCD"}`): incidents' later messages go into their thread.
   */
  readonly slackAppSecretName?: string;
  /** AWS Chatbot: Slack workspace (team) id and channel id, both or neither. */
  readonly slackWorkspaceId?: string;
  readonly slackChannelId?: string;
  /** How many previous builds of a line form a build's baseline (1–10). */
  readonly baselineBuilds?: number;
  /** Hours the flow stream keeps records (24–8760): how long an ingest outage can last without loss. */
  readonly streamRetentionHours?: number;
  /** Days the dead-letter and failed-notification queues keep messages (1–14). */
  readonly deadLetterRetentionDays?: number;
  /** Days the functions' logs are kept (a CloudWatch Logs retention value). */
  readonly logRetentionDays?: number;
  /** The one IAM role or user ARN allowed to assume the probe role (default: the account's principals). */
  readonly probePrincipalArn?: string;
  /** Most records per ingest invocation (1–10000; Lambda also stops at 6 MB). */
  readonly ingestBatchSize?: number;
  /** Seconds the event source gathers records before it invokes ingest (0–300). */
  readonly ingestBatchWindowSeconds?: number;
}

/** The retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/** Checks the `stackName` context value (the stack's name also names the archive's Glue database). */
export function checkStackName(value: unknown): string {
  if (value === undefined || value === '') return 'Leakwatch';
  if (typeof value !== 'string' || !STACK_NAME.test(value)) {
    throw new DeploymentConfigError(
      `context stackName ${JSON.stringify(value)} is not a CloudFormation stack name: a letter, then letters, digits and hyphens, at most 128 (example: npx cdk deploy -c stackName=LeakwatchLab2)`,
    );
  }
  return value;
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
  const slackAppSecretName = text(
    'slackAppSecretName',
    SECRET_NAME,
    'leakwatch/slack-app',
    'a Secrets Manager secret name',
  );
  const slackWorkspaceId = text('slackWorkspaceId', /^T[A-Z0-9]{6,}$/, 'T0123ABCD', 'a Slack workspace id');
  const slackChannelId = text('slackChannelId', /^[CG][A-Z0-9]{6,}$/, 'C0123ABCD', 'a Slack channel id');
  if ((slackWorkspaceId === undefined) !== (slackChannelId === undefined)) {
    throw new DeploymentConfigError(
      'AWS Chatbot needs both slackWorkspaceId and slackChannelId (example: -c slackWorkspaceId=T0123ABCD -c slackChannelId=C0123ABCD)',
    );
  }
  const whole = (key: string, min: number, max: number, example: number): number | undefined => {
    const value = tryGetContext(key);
    if (value === undefined || value === '') return undefined;
    const n = typeof value === 'number' || typeof value === 'string' ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new DeploymentConfigError(
        `context ${key} ${JSON.stringify(value)} is not a whole number from ${min} to ${max} (example: npx cdk deploy -c ${key}=${example})`,
      );
    }
    return n;
  };
  const baselineBuilds = whole('baselineBuilds', 1, 10, 2);
  const streamRetentionHours = whole('streamRetentionHours', 24, 8760, 168);
  const deadLetterRetentionDays = whole('deadLetterRetentionDays', 1, 14, 14);
  const logRetentionDays = whole('logRetentionDays', 1, 3653, 90);
  const ingestBatchSize = whole('ingestBatchSize', 1, 10_000, 5000);
  const ingestBatchWindowSeconds = whole('ingestBatchWindowSeconds', 0, 300, 10);
  if (
    logRetentionDays !== undefined &&
    !(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)
  ) {
    throw new DeploymentConfigError(
      `context logRetentionDays ${logRetentionDays} is not a retention CloudWatch Logs accepts (one of ${LOG_RETENTION_DAYS.join(', ')}; example: npx cdk deploy -c logRetentionDays=90)`,
    );
  }
  const probePrincipalArn = text(
    'probePrincipalArn',
    /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/,
    'arn:aws:iam::123456789012:role/lab-host',
    'an IAM role or user ARN',
  );
  return {
    ...(alertEmail ? { alertEmail } : {}),
    ...(alertSms ? { alertSms } : {}),
    ...(slackWebhookSecretName ? { slackWebhookSecretName } : {}),
    ...(slackAppSecretName ? { slackAppSecretName } : {}),
    ...(slackWorkspaceId ? { slackWorkspaceId } : {}),
    ...(slackChannelId ? { slackChannelId } : {}),
    ...(baselineBuilds !== undefined ? { baselineBuilds } : {}),
    ...(streamRetentionHours !== undefined ? { streamRetentionHours } : {}),
    ...(deadLetterRetentionDays !== undefined ? { deadLetterRetentionDays } : {}),
    ...(logRetentionDays !== undefined ? { logRetentionDays } : {}),
    ...(probePrincipalArn ? { probePrincipalArn } : {}),
    ...(ingestBatchSize !== undefined ? { ingestBatchSize } : {}),
    ...(ingestBatchWindowSeconds !== undefined ? { ingestBatchWindowSeconds } : {}),
  };
}
