import type { PersonalDataType } from '../classify/dataTypes.ts';

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
