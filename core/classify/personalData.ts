import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import mccMncList from 'mcc-mnc-list';
import { parse as parseDomain } from 'tldts';
import type { Candidate } from '../../schema/flowRecord.ts';
import { isLuhnValid } from './luhn.ts';

/** Personal-data types leakwatch recognises (issue #4 extends the list). */
export const PERSONAL_DATA_TYPES = [
  'imei',
  'imsi',
  'phone-number',
  'contact',
  'email',
  'carrier-name',
  'sms-content',
] as const;
export type PersonalDataType = (typeof PERSONAL_DATA_TYPES)[number];

export interface PersonalDataFinding {
  readonly dataType: PersonalDataType;
  /** Where: `<location>:<key>`, e.g. `form:imei` or `json:$.device.msisdn`. */
  readonly where: string;
  /** Enough to recognise the value, never the value: first and last characters kept. */
  readonly masked: string;
  /** Why the classifier decided: the check that passed. */
  readonly evidence: string;
}

/** Countries' mobile codes (ITU-T E.212) from the mcc-mnc-list package (MIT, Wikipedia data). */
const MOBILE_COUNTRY_CODES = new Set(mccMncList.all().map((entry) => entry.mcc));
/** Operator brand names of at least two words (single words such as "Orange" or "Free" are too common). */
const CARRIER_NAMES = new Set(
  mccMncList
    .all()
    .flatMap((entry) => [entry.brand, entry.operator])
    .filter((name): name is string => typeof name === 'string' && /\S+\s+\S+/.test(name) && name.length <= 40)
    .map((name) => name.toLowerCase()),
);

const KEY_HINTS: ReadonlyArray<readonly [RegExp, PersonalDataType]> = [
  [/imsi|subscriber_?id/i, 'imsi'],
  [/imei|meid|device_?id\b/i, 'imei'],
  [/carrier|operator|spn\b|network_?name/i, 'carrier-name'],
  [/sms|msg_?(body|text|content)|message_?(body|text)/i, 'sms-content'],
  [/contact/i, 'contact'],
];

export function mask(value: string): string {
  const v = value.trim();
  if (v.length <= 4) return '•'.repeat(v.length);
  const keep = v.length >= 12 ? 4 : 2;
  return `${v.slice(0, keep)}${'•'.repeat(Math.min(12, v.length - 2 * keep))}${v.slice(-keep)}`;
}

function keyHint(candidate: Candidate): PersonalDataType | undefined {
  // The last segment of a JSON path (`$.device.imei` → `imei`), but the whole path for contact/sms containers.
  for (const [pattern, type] of KEY_HINTS) if (pattern.test(candidate.key)) return type;
  return undefined;
}

function phoneNumber(value: string, region: string | undefined): string | undefined {
  const digits = value.replace(/[\s().-]/g, '');
  if (!/^\+?\d{7,15}$/.test(digits)) return undefined;
  const parsed = parsePhoneNumberFromString(
    value,
    (region ?? 'US') as Parameters<typeof parsePhoneNumberFromString>[1],
  );
  // `/max` metadata checks number plans, so millisecond timestamps and order numbers fail.
  if (!parsed?.isValid()) return undefined;
  const type = parsed.getType();
  return type === undefined ? 'valid number' : `valid ${type.toLowerCase().replace('_', ' ')} number`;
}

/**
 * Decides which candidates are personal data. Shape checks come first (Luhn for IMEI, a real MCC
 * for IMSI, libphonenumber-js number plans, e-mail syntax with a real public suffix); key names
 * settle what shapes alone cannot (an IMSI that happens to pass Luhn, a carrier name, SMS text).
 */
export function classifyCandidate(
  candidate: Candidate,
  region: string | undefined,
): PersonalDataFinding | undefined {
  const value = candidate.value.trim();
  const hint = keyHint(candidate);
  const where = `${candidate.location}:${candidate.key}`;
  const finding = (dataType: PersonalDataType, evidence: string): PersonalDataFinding => ({
    dataType,
    where,
    masked: mask(value),
    evidence,
  });
  const digits = value.replace(/[\s-]/g, '');

  if (/^\d{15}$/.test(digits)) {
    const luhn = isLuhnValid(digits);
    const mccKnown = MOBILE_COUNTRY_CODES.has(digits.slice(0, 3));
    if (hint === 'imsi' && mccKnown) return finding('imsi', `15 digits, MCC ${digits.slice(0, 3)}, key name`);
    if (luhn && digits.slice(0, 8) !== '00000000')
      return finding('imei', '15 digits, Luhn check digit valid');
    if (mccKnown && hint !== 'imei')
      return finding('imsi', `15 digits, MCC ${digits.slice(0, 3)} (not Luhn-valid)`);
  }
  if (hint === 'imei' && /^\d{14}$/.test(digits))
    return finding('imei', '14 digits (IMEI without check digit), key name');

  const phone = phoneNumber(value, region);
  if (phone) {
    if (hint === 'contact' || hint === 'sms-content')
      return finding('contact', `${phone}, in a contact/SMS field`);
    return finding('phone-number', phone);
  }

  if (candidate.shape === 'email-like') {
    const domain = value.slice(value.lastIndexOf('@') + 1);
    const parsed = parseDomain(domain);
    // Only suffixes on the Public Suffix List count; tldts otherwise accepts any last label.
    if (parsed.domain && (parsed.isIcann || parsed.isPrivate))
      return finding('email', 'e-mail address with a registrable domain');
  }
  if (hint === 'carrier-name' && candidate.shape === 'text' && /[A-Za-z\u00C0-\uFFFF]/.test(value)) {
    return finding('carrier-name', 'text in a carrier/operator field');
  }
  if (CARRIER_NAMES.has(value.toLowerCase()))
    return finding('carrier-name', 'operator name from the MCC/MNC list');
  if (hint === 'sms-content' && candidate.shape === 'text' && /\s/.test(value)) {
    return finding('sms-content', 'free text in an SMS/message field');
  }
  if (hint === 'contact' && candidate.shape === 'text' && value.length >= 2) {
    return finding('contact', 'text in a contact field');
  }
  return undefined;
}
