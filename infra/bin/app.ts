import { Annotations, App } from 'aws-cdk-lib';
import { checkStackName, DeploymentConfigError, readDeploymentConfig } from '../config.ts';
import { LeakwatchStack } from '../leakwatchStack.ts';

const app = new App();
let stack: LeakwatchStack;
try {
  const config = readDeploymentConfig((key) => app.node.tryGetContext(key));
  stack = new LeakwatchStack(app, checkStackName(app.node.tryGetContext('stackName')), {
    ...config,
    description: 'leakwatch: what personal data lab devices send, build by build',
  });
  if (
    !config.alertEmail &&
    !config.alertSms &&
    !config.slackWebhookSecretName &&
    !config.slackAppSecretName &&
    !config.slackChannelId
  ) {
    Annotations.of(stack).addWarningV2(
      'leakwatch:noAlertEmail',
      'No alertEmail, alertSms, slackWebhookSecretName or Slack channel given: alerts are published to the topic but nobody receives them. Deploy with -c alertEmail=team@example.com',
    );
  }
} catch (error) {
  // A bad setting is the user's to fix: say which and how, without a stack trace.
  if (!(error instanceof DeploymentConfigError)) throw error;
  console.error(`leakwatch: ${error.message}`);
  process.exit(1);
}
app.synth();
