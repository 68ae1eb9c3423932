/**
 * Before a command talks to AWS: is there a region and are there credentials? Without this the SDK
 * only fails at the first request, which the probe's retries would report as the stream being
 * unreachable (and spool, and exit 75) although nothing is down: a setup error, reported as one.
 */
export interface AwsClientConfig {
  readonly config: { region: () => Promise<string>; credentials: () => Promise<unknown> };
}

export class AwsSetupError extends Error {
  override name = 'AwsSetupError';
}

/** Resolves the client's region and credentials; throws AwsSetupError saying which is missing and how to give it. */
export async function checkAwsSetup(client: AwsClientConfig, regionFlag = '--aws-region'): Promise<void> {
  try {
    const region = await client.config.region();
    if (!region) throw new Error('empty');
  } catch (error) {
    throw new AwsSetupError(
      `no AWS region configured: give ${regionFlag} REGION, or set AWS_REGION, or use a profile with a region (AWS_PROFILE)`,
      { cause: error },
    );
  }
  try {
    await client.config.credentials();
  } catch (error) {
    throw new AwsSetupError(
      `no AWS credentials found (${firstLine(error)}): set AWS_PROFILE to a profile in ~/.aws/config, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a host with a role (see README: the probe's identity on a lab host)`,
      { cause: error },
    );
  }
}

const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0];
