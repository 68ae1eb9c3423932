import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { PERSONAL_DATA_TYPES, type PersonalDataType } from '../classify/dataTypes.ts';
import {
  type DigestEntry,
  KnownValueIndex,
  mergedSummary,
  type RegisteredValue,
  registration,
} from './knownValues.ts';

/**
 * The local device registry: `<data dir>/registry.json` with digests only, and the deployment's
 * digest key in `<data dir>/digest.key` (created on first use, mode 0600). On AWS the key lives in
 * Secrets Manager and the digests in DynamoDB; the format of an entry is the same.
 */
const EntrySchema = z.object({
  dataType: z.enum(PERSONAL_DATA_TYPES as [PersonalDataType, ...PersonalDataType[]]),
  form: z.string(),
  canary: z.boolean(),
  valueDigest: z.string(),
});
const DeviceSchema = z.object({
  registeredAt: z.string(),
  counts: z.record(z.string(), z.number()),
  plainLengths: z.array(z.number()),
  /** Prefilter fingerprints (absent for registrations made before the prefilter existed). */
  fingerprints: z.array(z.number()).optional(),
  digests: z.record(z.string(), EntrySchema),
});
const RegistrySchema = z.object({ version: z.literal(1), devices: z.record(z.string(), DeviceSchema) });
export type RegistryDocument = z.infer<typeof RegistrySchema>;

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export async function loadDigestKey(dataDir: string, create: boolean): Promise<Buffer | undefined> {
  const path = join(dataDir, 'digest.key');
  try {
    const hex = (await readFile(path, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(hex))
      throw new RegistryError(
        `${path} is not a 32-byte hex key; delete it to make a new one (registered devices must then be registered again)`,
      );
    return Buffer.from(hex, 'hex');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!create) return undefined;
    await mkdir(dataDir, { recursive: true });
    const key = randomBytes(32);
    await writeFile(path, `${key.toString('hex')}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
    return key;
  }
}

export async function readRegistry(dataDir: string): Promise<RegistryDocument> {
  const path = join(dataDir, 'registry.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: {} };
    throw error;
  }
  const parsed = RegistrySchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new RegistryError(
      `${path} is not a leakwatch registry: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
    );
  return parsed.data;
}

/** Adds values to a device's registration (earlier values stay); writes atomically. */
export async function registerValues(
  dataDir: string,
  deviceId: string,
  values: readonly RegisteredValue[],
  now: Date,
): Promise<RegistryDocument['devices'][string]> {
  const key = (await loadDigestKey(dataDir, true))!;
  const registry = await readRegistry(dataDir);
  const previous = registry.devices[deviceId];
  const added = registration(key, values);
  const digests: Record<string, DigestEntry> = { ...(previous?.digests ?? {}) };
  for (const [digest, entry] of added.digests) digests[digest] = entry;
  const device = {
    registeredAt: now.toISOString(),
    ...mergedSummary(previous, values, added),
    digests,
  };
  registry.devices[deviceId] = device;
  const path = join(dataDir, 'registry.json');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, `${JSON.stringify(registry)}\n`);
  await rename(`${path}.tmp`, path);
  return device;
}

/** Indexes of every registered device, for the ingest function, with the key `loadDigestKey` gave. */
export async function loadKnownValueIndexes(
  dataDir: string,
  key: Buffer,
): Promise<Map<string, KnownValueIndex>> {
  const registry = await readRegistry(dataDir);
  const byDevice = new Map<string, KnownValueIndex>();
  for (const [deviceId, device] of Object.entries(registry.devices)) {
    byDevice.set(
      deviceId,
      new KnownValueIndex(
        key,
        new Map(Object.entries(device.digests)),
        device.plainLengths,
        device.fingerprints,
      ),
    );
  }
  return byDevice;
}
