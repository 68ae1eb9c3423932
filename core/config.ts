export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads a required environment variable once; a missing one is a deployment error, said plainly. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new ConfigError(`environment variable ${name} is not set; the stack sets it on the function`);
  return value;
}
