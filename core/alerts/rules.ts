import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { Finding } from '../classify/classifyCandidates.ts';
import { dataTypeLabel, type PersonalDataType } from '../classify/dataTypes.ts';
import type { Destination } from '../classify/destination.ts';
import type { Alert, AlertRuleId, Severity } from './alert.ts';

/**
 * The alert rules, in one place. Each rule is pure: it receives what the flow showed and what the
 * baseline build did, and says which alerts should exist. Storing them once is the caller's job.
 */
export interface RuleInput {
  readonly record: FlowRecord;
  readonly destination: Destination;
  /** Findings grouped by data type (all from this one flow). */
  readonly findings: ReadonlyMap<PersonalDataType, Finding[]>;
  /** The previous build of this line, or null when this is the first one seen. */
  readonly baselineBuild: string | null;
  /** Whether the baseline build sent this data type in plaintext to this registrable domain. */
  readonly baselineSentPlaintext: ReadonlyMap<PersonalDataType, boolean>;
  readonly now: Date;
}

export interface RuleDefinition {
  readonly id: AlertRuleId;
  readonly severity: Severity;
  readonly explanation: string;
}

export const RULES: Record<AlertRuleId, RuleDefinition> = {
  'plaintext-begins': {
    id: 'plaintext-begins',
    severity: 'high',
    explanation:
      'This build sends this personal-data type unencrypted (plain HTTP) to a destination where the previous build of the same firmware line did not. Anyone on the path can read it.',
  },
  'sent-without-consent': {
    id: 'sent-without-consent',
    severity: 'high',
    explanation:
      "This personal-data type reaches a destination of a service that the lab session had not opted in to (consent 'denied').",
  },
};

export function evaluateRules(input: RuleInput): Alert[] {
  const { record, destination, now } = input;
  const alerts: Alert[] = [];
  const base = (
    rule: RuleDefinition,
    dataType: PersonalDataType,
    findings: Finding[],
    title: string,
  ): Alert => ({
    rule: rule.id,
    severity: rule.severity,
    title,
    explanation: rule.explanation,
    dataType,
    vendor: record.device.vendor,
    model: record.device.model,
    line: record.firmware.line,
    build: record.firmware.build,
    builtAt: record.firmware.builtAt,
    baselineBuild: input.baselineBuild,
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
      ...new Set(findings.flatMap((f) => [...f.chain, ...(f.form && f.form !== 'plain' ? [f.form] : [])])),
    ],
    evidence: findings[0]!.evidence,
    canary: findings.some((f) => f.canary === true),
    flowId: record.flow.id,
    firstSeen: record.flow.startedAt,
    createdAt: now.toISOString(),
  });
  const consent = destination.service ? record.session.consent[destination.service] : undefined;
  for (const [dataType, findings] of input.findings) {
    const label = dataTypeLabel(dataType);
    const who = `${record.device.model} ${record.firmware.build}`;
    if (destination.transport === 'plaintext' && !input.baselineSentPlaintext.get(dataType)) {
      alerts.push(
        base(
          RULES['plaintext-begins'],
          dataType,
          findings,
          `${who} begins sending ${label} in plaintext to ${destination.host}`,
        ),
      );
    }
    if (consent === 'denied') {
      alerts.push(
        base(
          RULES['sent-without-consent'],
          dataType,
          findings,
          `${who} sends ${label} to ${destination.host} without opt-in (${destination.service})`,
        ),
      );
    }
  }
  return alerts;
}
