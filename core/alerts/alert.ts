import type { PersonalDataType } from '../classify/personalData.ts';

export type AlertRuleId = 'plaintext-begins' | 'sent-without-consent';
export type Severity = 'high' | 'medium' | 'low';

/** One alert per (firmware line, rule, registrable domain, data type). */
export interface Alert {
  readonly rule: AlertRuleId;
  readonly severity: Severity;
  readonly title: string;
  readonly explanation: string;
  readonly dataType: PersonalDataType;
  readonly vendor: string;
  readonly model: string;
  readonly line: string;
  /** The build in which the behaviour was first seen. */
  readonly build: string;
  readonly builtAt: string;
  /** The build compared against, or null when this is the first build of the line seen. */
  readonly baselineBuild: string | null;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly host: string;
  readonly registrableDomain: string;
  readonly organisation: string;
  readonly service?: string;
  readonly transport: string;
  /** Where in the request the value was, e.g. `form:imei`. */
  readonly where: string[];
  readonly masked: string;
  readonly flowId: string;
  readonly firstSeen: string;
  readonly createdAt: string;
}
