import { Annotations, App } from 'aws-cdk-lib';
import { readDeploymentConfig } from '../config.ts';
import { LeakwatchStack } from '../leakwatchStack.ts';

const app = new App();
const config = readDeploymentConfig((key) => app.node.tryGetContext(key));
const stack = new LeakwatchStack(app, app.node.tryGetContext('stackName') ?? 'Leakwatch', {
  ...config,
  description: 'leakwatch: what personal data lab devices send, build by build',
});
if (!config.alertEmail && !config.alertSms && !config.slackWebhookSecretName && !config.slackChannelId) {
  Annotations.of(stack).addWarningV2(
    'leakwatch:noAlertEmail',
    'No alertEmail, alertSms, slackWebhookSecretName or Slack channel given: alerts are published to the topic but nobody receives them. Deploy with -c alertEmail=team@example.com',
  );
}
app.synth();
