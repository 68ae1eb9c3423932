import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConsentStateSchema } from '../../schema/flowRecord.ts';
import { ConfigFileError, parseConfigText, unknownName } from '../config/strictParse.ts';
import bundled from './profiles.json' with { type: 'json' };

/**
 * Named, reusable consent profiles: the consent state per service a lab sets up for a kind of test
 * session (`out-of-box`, `vendor-account`). A lab session names one and may override services.
 * Services are the names catalog entries map destinations to (core/catalog/destinations.json).
 */
export const ConsentProfileSchema = z.strictObject({
  description: z.string().min(1),
  consent: z.record(z.string().min(1), ConsentStateSchema),
});
export const ConsentProfilesFileSchema = z.strictObject({
  profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/), ConsentProfileSchema),
});
export type ConsentProfile = z.infer<typeof ConsentProfileSchema>;

export class ConsentProfileError extends Error {
  override name = 'ConsentProfileError';
}

/** The shipped profiles plus those of `path` (a lab's own file; same names replace shipped ones). */
export function loadConsentProfiles(
  path: string | undefined = process.env.LEAKWATCH_CONSENT_PROFILES,
): Map<string, ConsentProfile> {
  const profiles = new Map(Object.entries(ConsentProfilesFileSchema.parse(bundled).profiles));
  if (!path) return profiles;
  let parsed: z.infer<typeof ConsentProfilesFileSchema>;
  try {
    parsed = parseConfigText(ConsentProfilesFileSchema, readFileSync(path, 'utf8'), 'consent profiles', path);
  } catch (error) {
    const message =
      error instanceof ConfigFileError
        ? error.message
        : `cannot read consent profiles ${path}: ${(error as Error).message}`;
    throw new ConsentProfileError(message, { cause: error });
  }
  for (const [name, profile] of Object.entries(parsed.profiles)) profiles.set(name, profile);
  return profiles;
}

/** The consent states of a named profile, or an error naming the profiles there are. */
export function consentOfProfile(
  name: string,
  profiles: ReadonlyMap<string, ConsentProfile>,
): Record<string, 'granted' | 'denied'> {
  const profile = profiles.get(name);
  if (!profile) {
    throw new ConsentProfileError(
      `${unknownName('consent profile', name, [...profiles.keys()])}; known: ${[...profiles.keys()].sort().join(', ')}`,
    );
  }
  return { ...profile.consent };
}
