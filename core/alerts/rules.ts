import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { Finding } from '../classify/classifyCandidates.ts';
import { dataTypeLabel, type PersonalDataType } from '../classify/dataTypes.ts';
import type { Destination } from '../classify/destination.ts';
import type { Alert, AlertRuleId, Severity } from './alert.ts';

/**
 * The alert rules, in one place. A rule is a condition on one observation (what a build sent of
 * one data type to one destination, and how) that names a *subject* (a registrable domain, an
 * organisation, a country) or none; plus whether it needs a baseline. The same condition decides
 * everything: whether a flow raises the alert, whether a baseline build already did it, whether a
 * later build still does (still present) or has stopped (resolved). Rules are pure.
 */
export interface ObservationFacts {
  readonly registrableDomain: string;
  readonly organisation: string;
  readonly country?: string;
  readonly service?: string;
  readonly transport: string;
  /** A personal-data type, or `-` for the destination itself. */
  readonly dataType: string;
  /** Flows that sent it while the session's consent for the destination's service was denied. */
  readonly flowsWithoutConsent?: number;
  /** How known values were written (`plain`, `md5-hex`, …). */
  readonly forms?: ReadonlySet<string>;
}

/** What one build did: its observations, and the services its sessions had consent denied for. */
export interface BuildFacts {
  readonly build: string;
  readonly builtAt: string;
  readonly observations: readonly ObservationFacts[];
  readonly deniedServices: ReadonlySet<string>;
}

export interface RuleDefinition {
  readonly id: AlertRuleId;
  readonly severity: Severity;
  readonly explanation: string;
  /**
   * `none`: raised whenever the condition holds (once per line); `absent`: only when no baseline
   * build showed it (the first build of a line, with no baseline, raises it); `absent-and-known`:
   * as `absent`, but the first build of a line raises nothing (nothing to call it new against).
   */
  readonly baseline: 'none' | 'absent' | 'absent-and-known';
  /** The subject this observation triggers the rule for, or undefined. */
  subjectOf(o: ObservationFacts): string | undefined;
  /** Whether a build can show the condition has stopped (e.g. it had sessions with consent denied). */
  canTell?(build: BuildFacts, alert: Pick<Alert, 'service'>): boolean;
  title(who: string, label: string, o: ObservationFacts & { host: string; service?: string }): string;
}

const HASHED_FORM = /^(md5|sha1|sha256)-/;
const organisationOf = (o: ObservationFacts) =>
  o.organisation !== 'unknown' ? o.organisation : `unknown (${o.registrableDomain})`;

export const RULES: Record<AlertRuleId, RuleDefinition> = {
  'plaintext-begins': {
    id: 'plaintext-begins',
    severity: 'high',
    explanation:
      'This build sends this personal-data type unencrypted (plain HTTP) to a destination where the baseline builds of the same firmware line did not (the first build of a line is compared with nothing). Anyone on the path can read it.',
    baseline: 'absent',
    subjectOf: (o) => (o.transport === 'plaintext' ? o.registrableDomain : undefined),
    title: (who, label, o) => `${who} begins sending ${label} in plaintext to ${o.host}`,
  },
  'sent-without-consent': {
    id: 'sent-without-consent',
    severity: 'high',
    explanation:
      "This personal-data type reaches a destination of a service that the lab session had not opted in to (consent 'denied').",
    baseline: 'none',
    subjectOf: (o) => ((o.flowsWithoutConsent ?? 0) > 0 ? o.registrableDomain : undefined),
    // Only a build tested with the service's consent denied can show it no longer sends without it.
    canTell: (build, alert) => alert.service !== undefined && build.deniedServices.has(alert.service),
    title: (who, label, o) => `${who} sends ${label} to ${o.host} without opt-in (${o.service})`,
  },
  'new-organisation': {
    id: 'new-organisation',
    severity: 'medium',
    explanation:
      'This build sends this personal-data type to an organisation the baseline builds of its line did not send it to, encrypted or not.',
    baseline: 'absent-and-known',
    subjectOf: (o) => organisationOf(o),
    title: (who, label, o) => `${who} begins sending ${label} to ${organisationOf(o)} (${o.host})`,
  },
  'new-country': {
    id: 'new-country',
    severity: 'medium',
    explanation:
      "This build sends this personal-data type to servers registered in a country the baseline builds of its line did not send it to, encrypted or not (country of the server's address, offline database).",
    baseline: 'absent-and-known',
    subjectOf: (o) => o.country,
    title: (who, label, o) => `${who} begins sending ${label} to servers in ${o.country} (${o.host})`,
  },
  'hashed-in-plaintext': {
    id: 'hashed-in-plaintext',
    severity: 'high',
    explanation:
      'This build sends a hash (MD5/SHA) of this identifier unencrypted. Hashing is not encryption: the identifier spaces are small enough to reverse the hash, and the hash is as stable an identifier as the value.',
    baseline: 'none',
    subjectOf: (o) =>
      o.transport === 'plaintext' && [...(o.forms ?? [])].some((f) => HASHED_FORM.test(f))
        ? o.registrableDomain
        : undefined,
    title: (who, label, o) => `${who} sends a hash of the ${label} in plaintext to ${o.host}`,
  },
};
export const RULE_IDS = Object.keys(RULES) as AlertRuleId[];

/** Whether `build` shows the rule's condition for this subject and data type. */
export function presentIn(
  rule: RuleDefinition,
  build: BuildFacts,
  subject: string,
  dataType: string,
): boolean {
  return build.observations.some((o) => o.dataType === dataType && rule.subjectOf(o) === subject);
}

/** Whether a flow's condition is new against the baseline builds (most recent first). */
export function isNewAgainst(
  rule: RuleDefinition,
  baseline: readonly BuildFacts[],
  subject: string,
  dataType: string,
): boolean {
  if (rule.baseline === 'none') return true;
  if (rule.baseline === 'absent-and-known' && baseline.length === 0) return false;
  return !baseline.some((build) => presentIn(rule, build, subject, dataType));
}

/** Whether a later build shows that an open alert's behaviour has stopped. */
export function resolvedBy(
  build: BuildFacts,
  alert: Pick<Alert, 'rule' | 'subject' | 'dataType' | 'service'>,
) {
  const rule = RULES[alert.rule];
  if (rule.canTell && !rule.canTell(build, alert)) return false;
  return !presentIn(rule, build, alert.subject, alert.dataType);
}

/** What a flow did of one data type (its observation), with the findings behind it. */
export interface FlowObservation extends ObservationFacts {
  readonly dataType: PersonalDataType;
  readonly findings: readonly Finding[];
}

/** A rule's condition holding in a flow: the alert it would raise if new. */
export interface Condition {
  readonly rule: RuleDefinition;
  readonly subject: string;
  readonly alert: Alert;
}

/**
 * The conditions a flow shows, one per rule × subject × data type. Their alerts name no baseline
 * builds yet: the caller adds them when it compares with the baseline.
 */
export function conditionsOf(
  record: FlowRecord,
  destination: Destination,
  observations: readonly FlowObservation[],
  now: Date,
): Condition[] {
  const conditions: Condition[] = [];
  const who = `${record.device.model} ${record.firmware.build}`;
  for (const o of observations) {
    for (const rule of Object.values(RULES)) {
      const subject = rule.subjectOf(o);
      if (subject === undefined) continue;
      const findings = o.findings;
      const alert: Alert = {
        rule: rule.id,
        severity: rule.severity,
        title: rule.title(who, dataTypeLabel(o.dataType), { ...o, host: destination.host }),
        explanation: rule.explanation,
        subject,
        dataType: o.dataType,
        vendor: record.device.vendor,
        model: record.device.model,
        line: record.firmware.line,
        build: record.firmware.build,
        builtAt: record.firmware.builtAt,
        baselineBuilds: [],
        deviceId: record.device.id,
        sessionId: record.session.id,
        host: destination.host,
        registrableDomain: destination.registrableDomain,
        organisation: destination.organisation,
        ...(destination.service ? { service: destination.service } : {}),
        ...(destination.country ? { country: destination.country } : {}),
        ...(destination.asOrganisation ? { asOrganisation: destination.asOrganisation } : {}),
        transport: destination.transport,
        transportDetail: destination.transportDetail,
        where: [...new Set(findings.map((f) => f.where))].sort(),
        masked: findings[0]!.masked,
        encodings: [
          ...new Set(
            findings.flatMap((f) => [...f.chain, ...(f.form && f.form !== 'plain' ? [f.form] : [])]),
          ),
        ],
        evidence: findings[0]!.evidence,
        canary: findings.some((f) => f.canary === true),
        flowId: record.flow.id,
        firstSeen: record.flow.startedAt,
        createdAt: now.toISOString(),
      };
      conditions.push({ rule, subject, alert });
    }
  }
  return conditions;
}
