import type { AlertRuleId } from '../alerts/alert.ts';
import { isSuppressing, type Severity, type StoredAlert } from '../alerts/alert.ts';
import { type BuildFacts, isNewAgainst, RULES, type RuleDefinition } from '../alerts/rules.ts';
import { dataTypeLabel, type PersonalDataType } from '../classify/dataTypes.ts';
import type { BuildSummary, ObservationItem } from '../store/leakwatchStore.ts';

/**
 * The firmware CI gate's verdict (`leakwatch check`): a build's personal-data observations judged
 * by the alert rules against a baseline, with the same conditions the ingest function raises
 * alerts with (core/alerts/rules.ts). One case per rule × data type × destination host the build
 * sent that data type to:
 * - `regressed`: the rule's condition holds and is new against the baseline (an alert-worthy change);
 * - `suppressed`: it would be, but the lab's verdict on that alert is benign or false positive;
 * - `unchanged`: the condition holds but the baseline showed it too (or there is nothing to call it
 *   new against);
 * - `passed`: the condition does not hold (e.g. the data type goes there over TLS only).
 */
export type CaseStatus = 'regressed' | 'suppressed' | 'unchanged' | 'passed';

export interface CheckCase {
  readonly rule: AlertRuleId;
  readonly severity: Severity;
  readonly dataType: PersonalDataType;
  readonly host: string;
  readonly status: CaseStatus;
  /** What the rule's condition is about here (domain, organisation, country), when it holds. */
  readonly subject?: string;
  readonly title: string;
  readonly explanation: string;
  readonly organisation: string;
  readonly country?: string;
  /** `plaintext HTTP`, `TLS 1.3`, … of the observations behind the case. */
  readonly transports: readonly string[];
  readonly where: readonly string[];
  readonly masked?: string;
  readonly flows: number;
  /** The alert of this line with the same rule, subject and data type, if there is one. */
  readonly alertId?: string;
  readonly verdict?: string;
  readonly verdictNote?: string;
}

export interface CheckSubject {
  readonly vendor: string;
  readonly model: string;
  readonly line: string;
  readonly build: BuildSummary;
  readonly baseline: readonly BuildSummary[];
}

export interface CheckResult extends CheckSubject {
  readonly cases: readonly CheckCase[];
}

/** Evaluates every rule on the build's personal-data observations against the baseline builds' facts. */
export function checkBuild(
  subject: CheckSubject,
  facts: BuildFacts & { observations: readonly ObservationItem[] },
  baseline: readonly BuildFacts[],
  alerts: readonly StoredAlert[],
): CheckResult {
  const who = `${subject.model} ${subject.build.build}`;
  // Observations of one data type to one host (each transport is an observation of its own).
  const byTarget = new Map<string, ObservationItem[]>();
  for (const o of facts.observations) {
    if (o.dataType === '-') continue;
    const key = `${o.dataType}\u0000${o.host}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), o]);
  }
  const cases: CheckCase[] = [];
  for (const observations of byTarget.values()) {
    const first = observations[0]!;
    const dataType = first.dataType as PersonalDataType;
    for (const rule of Object.values(RULES)) {
      cases.push(caseOf(rule, dataType, observations, baseline, alerts, who));
    }
  }
  const order: Record<CaseStatus, number> = { regressed: 0, suppressed: 1, unchanged: 2, passed: 3 };
  cases.sort(
    (a, b) =>
      order[a.status] - order[b.status] ||
      a.rule.localeCompare(b.rule) ||
      a.dataType.localeCompare(b.dataType) ||
      a.host.localeCompare(b.host),
  );
  return { ...subject, cases };
}

function caseOf(
  rule: RuleDefinition,
  dataType: PersonalDataType,
  observations: readonly ObservationItem[],
  baseline: readonly BuildFacts[],
  alerts: readonly StoredAlert[],
  who: string,
): CheckCase {
  const holding = observations.filter((o) => rule.subjectOf(o) !== undefined);
  const shown = holding[0] ?? observations[0]!;
  const subject = holding.length > 0 ? rule.subjectOf(shown) : undefined;
  const alert = subject
    ? alerts.find((a) => a.rule === rule.id && a.subject === subject && a.dataType === dataType)
    : undefined;
  let status: CaseStatus = 'passed';
  if (subject !== undefined) {
    status = isNewAgainst(rule, baseline, subject, dataType) ? 'regressed' : 'unchanged';
    if (status === 'regressed' && alert && isSuppressing(alert.verification)) status = 'suppressed';
  }
  const label = dataTypeLabel(dataType);
  const set = holding.length > 0 ? holding : observations;
  return {
    rule: rule.id,
    severity: rule.severity,
    dataType,
    host: shown.host,
    status,
    ...(subject !== undefined ? { subject } : {}),
    title:
      subject !== undefined
        ? rule.title(who, label, { ...shown, host: shown.host })
        : `${who}: ${rule.id} does not apply to ${label} → ${shown.host} (${set.map((o) => o.transportDetail ?? o.transport).join(', ')})`,
    explanation: rule.explanation,
    organisation: shown.organisation,
    ...(shown.country ? { country: shown.country } : {}),
    transports: [...new Set(set.map((o) => o.transportDetail ?? o.transport))].sort(),
    where: [...new Set(set.flatMap((o) => [...(o.where ?? [])]))].sort(),
    ...(shown.sample ? { masked: shown.sample } : {}),
    flows: set.reduce((n, o) => n + o.flows, 0),
    ...(alert ? { alertId: alert.alertId, verdict: alert.verification } : {}),
    ...(alert?.verificationNote ? { verdictNote: alert.verificationNote } : {}),
  };
}
