import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { loadCatalog } from '../core/catalog/bundledCatalog.ts';
import { CatalogError } from '../core/catalog/catalog.ts';
import { describeIssues, unknownName } from '../core/config/strictParse.ts';
import { ConsentProfileError, consentOfProfile, loadConsentProfiles } from '../core/consent/profiles.ts';
import { DeviceSchema, FirmwareSchema, type LabContext, LabSessionSchema } from '../schema/flowRecord.ts';
import { ProbeUsageError } from './errors.ts';

/**
 * A lab config file, strictly: a key the schema does not know (`consentProfle`) is an error with
 * the nearest known key, never silently ignored (a consent left out that way means no consent
 * alert can ever fire). The flow record's schema stays open; this is the file people write.
 */
export const LabConfigSchema = z.strictObject({
  device: z.strictObject(DeviceSchema.shape),
  firmware: z.strictObject(FirmwareSchema.shape),
  session: z.strictObject(LabSessionSchema.shape),
});

/** Flags that set or override the lab context; each maps to one field of the lab config file. */
export interface LabContextFlags {
  labConfig?: string;
  deviceId?: string;
  vendor?: string;
  model?: string;
  simRegion?: string;
  firmwareLine?: string;
  build?: string;
  builtAt?: string;
  sessionId?: string;
  consent?: string[];
  /** A named consent profile (core/consent/profiles.json or the lab's own file); --consent overrides it. */
  consentProfile?: string;
  /** The lab's own consent profiles file. @default $LEAKWATCH_CONSENT_PROFILES */
  consentProfiles?: string;
  /** The deployment's catalog file (its services are valid consent keys). @default $LEAKWATCH_CATALOG */
  catalog?: string;
}

function parseConsent(entries: string[]): Record<string, 'granted' | 'denied'> {
  const consent: Record<string, 'granted' | 'denied'> = {};
  for (const entry of entries) {
    const match = /^([^=]+)=(granted|denied)$/.exec(entry);
    if (!match) {
      throw new ProbeUsageError(
        `--consent "${entry}" is not SERVICE=granted or SERVICE=denied (example: --consent xiaomi.cloud-messaging=denied)`,
      );
    }
    consent[match[1]!] = match[2] as 'granted' | 'denied';
  }
  return consent;
}

/**
 * Builds the lab context from an optional lab config file (JSON with `device`, `firmware` and
 * `session`) and flags, flags winning. Throws `ProbeUsageError` naming every missing or invalid field.
 */
export async function loadLabContext(flags: LabContextFlags): Promise<LabContext> {
  let base: Record<string, Record<string, unknown>> = { device: {}, firmware: {}, session: {} };
  if (flags.labConfig) {
    let text: string;
    try {
      text = await readFile(flags.labConfig, 'utf8');
    } catch (error) {
      throw new ProbeUsageError(`cannot read lab config ${flags.labConfig}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      base = JSON.parse(text);
      if (typeof base !== 'object' || base === null || Array.isArray(base))
        throw new Error(
          'the file holds no JSON object (expected { "device": …, "firmware": …, "session": … })',
        );
    } catch (error) {
      throw new ProbeUsageError(
        `lab config ${flags.labConfig} is not valid JSON: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  const set = (section: string, field: string, value: unknown) => {
    if (value === undefined) return;
    base[section] = { ...(base[section] ?? {}), [field]: value };
  };
  set('device', 'id', flags.deviceId);
  set('device', 'vendor', flags.vendor);
  set('device', 'model', flags.model);
  set('device', 'region', flags.simRegion);
  set('firmware', 'line', flags.firmwareLine);
  set('firmware', 'build', flags.build);
  set('firmware', 'builtAt', flags.builtAt);
  set('session', 'id', flags.sessionId);
  set('session', 'consentProfile', flags.consentProfile);
  const profileName = base.session?.consentProfile;
  if (typeof profileName === 'string') {
    // The profile's states first, then the session's own (from the file), then --consent flags.
    try {
      const fromProfile = consentOfProfile(profileName, loadConsentProfiles(flags.consentProfiles));
      // A profile named by flag replaces the file's consent; one named in the file is its base.
      const own = flags.consentProfile ? {} : ((base.session?.consent as object) ?? {});
      base.session = { ...base.session, consent: { ...fromProfile, ...own } };
    } catch (error) {
      if (error instanceof ConsentProfileError) throw new ProbeUsageError(error.message, { cause: error });
      throw error;
    }
  }
  if (flags.consent?.length) {
    set('session', 'consent', {
      ...((base.session?.consent as object) ?? {}),
      ...parseConsent(flags.consent),
    });
  }
  if (base.session && typeof base.session === 'object' && base.session.consent === undefined)
    base.session.consent = {};
  const result = LabConfigSchema.safeParse(base);
  if (!result.success) {
    const flagFor: Record<string, string> = {
      'device.id': '--device-id',
      'device.vendor': '--vendor',
      'device.model': '--model',
      'device.region': '--sim-region',
      'firmware.line': '--firmware-line',
      'firmware.build': '--build',
      'firmware.builtAt': '--built-at',
      'session.id': '--session-id',
    };
    const problems = describeIssues(LabConfigSchema, result.error).map((problem) => {
      const path = problem.slice(0, problem.indexOf(':'));
      const flag = flagFor[path];
      return `  ${path}${flag ? ` (${flag})` : ''}${problem.slice(path.length)}`;
    });
    throw new ProbeUsageError(
      `lab context incomplete or invalid${flags.labConfig ? ` (config ${flags.labConfig})` : ''}:\n${problems.join('\n')}`,
    );
  }
  checkConsentServices(result.data, flags);
  return result.data;
}

/**
 * Every consent key must be a service the catalog or a consent profile names: a mistyped service
 * would match no destination, so its consent alert could never fire.
 */
function checkConsentServices(context: LabContext, flags: LabContextFlags): void {
  const known = new Set<string>();
  try {
    for (const service of loadCatalog(flags.catalog ?? process.env.LEAKWATCH_CATALOG).services())
      known.add(service);
    for (const profile of loadConsentProfiles(flags.consentProfiles).values())
      for (const service of Object.keys(profile.consent)) known.add(service);
  } catch (error) {
    if (error instanceof CatalogError || error instanceof ConsentProfileError)
      throw new ProbeUsageError(error.message, { cause: error });
    throw error;
  }
  const unknown = Object.keys(context.session.consent).filter((service) => !known.has(service));
  if (unknown.length === 0) return;
  const services = [...known].sort();
  throw new ProbeUsageError(
    `lab context invalid${flags.labConfig ? ` (config ${flags.labConfig})` : ''}:\n${unknown
      .map((service) => `  session.consent: ${unknownName('consent service', service, services)}`)
      .join(
        '\n',
      )}\n  known services (from the catalog and the consent profiles): ${services.join(', ')}\n  a service of your own goes into your catalog (--catalog or LEAKWATCH_CATALOG: an entry's "service") or a consent profile (--consent-profiles)`,
  );
}
