import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export class DigestKeyError extends Error {
  override name = 'DigestKeyError';
}

/**
 * The deployment's digest key from Secrets Manager: the secret holds 64 hex characters (the stack
 * generates it). Throws naming the secret when it is missing or malformed.
 */
export async function loadDigestKeyFromSecret(
  client: SecretsManagerClient,
  secretId: string,
): Promise<Buffer> {
  const { SecretString: secret } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  const hex = secret?.trim() ?? '';
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    throw new DigestKeyError(
      `secret ${secretId} does not hold a 64-hex-character digest key (got ${hex.length} characters)`,
    );
  }
  return Buffer.from(hex, 'hex');
}
