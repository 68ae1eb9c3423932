/** Deployment settings read from CDK context (`-c name=value` or cdk.json), validated at synth. */
export interface DeploymentConfig {
  readonly alertEmail?: string;
}

export class DeploymentConfigError extends Error {
  override name = 'DeploymentConfigError';
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function readDeploymentConfig(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const alertEmail = tryGetContext('alertEmail');
  if (alertEmail === undefined || alertEmail === '') return {};
  if (typeof alertEmail !== 'string' || !EMAIL.test(alertEmail)) {
    throw new DeploymentConfigError(
      `context alertEmail ${JSON.stringify(alertEmail)} is not an e-mail address (example: npx cdk deploy -c alertEmail=team@example.com)`,
    );
  }
  return { alertEmail };
}
