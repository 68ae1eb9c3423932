import { readFile } from 'node:fs/promises';
import { ConsentProfileError, consentOfProfile, loadConsentProfiles } from '../core/consent/profiles.ts';
import { type LabContext, LabContextSchema } from '../schema/flowRecord.ts';
import { ProbeUsageError } from './errors.ts';

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
  if (base.session && base.session.consent === undefined) base.session.consent = {};
  const result = LabContextSchema.safeParse(base);
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
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const flag = flagFor[path];
      return `  ${path}${flag ? ` (${flag})` : ''}: ${issue.message}`;
    });
    throw new ProbeUsageError(
      `lab context incomplete or invalid${flags.labConfig ? ` (config ${flags.labConfig})` : ''}:\n${problems.join('\n')}`,
    );
  }
  return result.data;
}
