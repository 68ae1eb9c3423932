import type { PersonalDataType } from '../classify/dataTypes.ts';

export type AlertRuleId =
  | 'plaintext-begins'
  | 'sent-without-consent'
  | 'new-organisation'
  | 'new-country'
  | 'hashed-in-plaintext';
export type Severity = 'high' | 'medium' | 'low';

/** Severities ranked, the most severe first. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { high: 0, medium: 1, low: 2 };

/** The most severe of some severities (`low` when there are none). */
export function mostSevere(severities: Iterable<Severity>): Severity {
  let worst: Severity = 'low';
  for (const s of severities) if (SEVERITY_RANK[s] < SEVERITY_RANK[worst]) worst = s;
  return worst;
}

/** Lifecycle: open when raised (or seen again after a fix), resolved when a later build of the line stops. */
export const ALERT_STATES = ['open', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
export const isAlertState = (value: string): value is AlertState =>
  (ALERT_STATES as readonly string[]).includes(value);

/**
 * A lab's verdict, as AWS IoT Device Defender's verification states. `benign-positive` and
 * `false-positive` suppress the alert's key in later builds (no reopening, no notifications).
 */
export const VERIFICATION_STATES = ['unknown', 'true-positive', 'benign-positive', 'false-positive'] as const;
export type VerificationState = (typeof VERIFICATION_STATES)[number];
export const isSuppressing = (state: VerificationState | undefined) =>
  state === 'benign-positive' || state === 'false-positive';

/**
 * One alert per (firmware line, rule, subject, data type). The subject is the registrable domain,
 * or the organisation or country for the new-organisation and new-country rules.
 */
export interface Alert {
  readonly rule: AlertRuleId;
  readonly severity: Severity;
  readonly title: string;
  readonly explanation: string;
  readonly subject: string;
  readonly dataType: PersonalDataType;
  readonly vendor: string;
  readonly model: string;
  readonly line: string;
  /** The build in which the behaviour was first seen. */
  readonly build: string;
  readonly builtAt: string;
  /** The builds compared against (most recent first), empty when there was none to compare with. */
  readonly baselineBuilds: string[];
  readonly deviceId: string;
  readonly sessionId: string;
  readonly host: string;
  readonly registrableDomain: string;
  readonly organisation: string;
  readonly service?: string;
  /** Registration country and network of the server's address. */
  readonly country?: string;
  readonly asOrganisation?: string;
  /** `plaintext`, `tls`, `quic` (filterable); `transportDetail` says more (`plaintext HTTP`, `TLS 1.3`). */
  readonly transport: string;
  readonly transportDetail: string;
  /** Where in the request the value was, e.g. `form:imei`. */
  readonly where: string[];
  readonly masked: string;
  /** Decodings that led to the value (`base64`, `gzip`, `json`), and how it was written (`md5-hex`). */
  readonly encodings: string[];
  /** Why leakwatch says this is that data type (known-value match, or the check that passed). */
  readonly evidence: string;
  /** The value was a canary planted by the lab. */
  readonly canary: boolean;
  readonly flowId: string;
  readonly firstSeen: string;
  readonly createdAt: string;
}

/** An alert as stored, with its lifecycle and verification. */
export interface StoredAlert extends Alert {
  /** Short stable id (`A…`) for the CLI and API. */
  readonly alertId: string;
  readonly lineKey: string;
  readonly state: AlertState;
  /** Builds of the line in which the behaviour was seen (the first is `build`; at most 64, SET_CAPS). */
  readonly seenInBuilds?: Set<string>;
  /** The last build that showed it, once `seenInBuilds` is full. */
  readonly lastSeenInBuild?: string;
  readonly resolvedIn?: string;
  readonly resolvedInBuiltAt?: string;
  readonly resolvedAt?: string;
  /** A later build in which a resolved alert was seen again. */
  readonly reopenedIn?: string;
  readonly verification: VerificationState;
  readonly verificationNote?: string;
  readonly verifiedAt?: string;
}

/** An alert for JSON (CLI --json, the API): its set of builds as a sorted array (storage's own marks left out). */
export function alertAsJson(
  alert: StoredAlert,
): Omit<StoredAlert, 'seenInBuilds'> & { seenInBuilds: string[] } {
  const { setsCapped: _capped, ...rest } = alert as StoredAlert & { setsCapped?: unknown };
  return { ...rest, seenInBuilds: [...(alert.seenInBuilds ?? [])].sort() };
}
