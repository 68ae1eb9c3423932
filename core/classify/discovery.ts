import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { parse as parseDomain } from 'tldts';
import mobileNetworks from '../../data/mcc-mnc.json' with { type: 'json' };
import type { PersonalDataType } from './dataTypes.ts';
import { isLuhnValid } from './luhn.ts';
import type { Variant } from './variants.ts';

/**
 * Discovery: what a value is, for identifiers the lab did not register. Shape checks decide when
 * they are strong (Luhn for IMEI and ICCID, a real MCC/MNC for IMSI, number plans for phone numbers,
 * a public suffix for e-mail); the key's name decides what shape alone cannot (an Android ID is
 * 16 hex digits, as are many other things). Each finding has a confidence; below MIN_CONFIDENCE
 * nothing is reported.
 */
export interface Discovery {
  readonly dataType: PersonalDataType;
  readonly confidence: number;
  readonly evidence: string;
}

export const MIN_CONFIDENCE = 0.5;

/**
 * Mobile networks (ITU-T E.212): MCC → MNC → brand, and operator names of two or more words (single
 * words such as "Orange" or "Free" are too common), from data/mcc-mnc.json, which
 * scripts/build-mcc-table.ts builds at install from the mcc-mnc-list package (Wikipedia data, MIT).
 */
const MNCS_BY_MCC = new Map<string, Map<string, string>>(
  Object.entries(mobileNetworks.networks).map(([mcc, mncs]) => [mcc, new Map(Object.entries(mncs))]),
);
const CARRIER_NAMES = new Set<string>(mobileNetworks.carrierNames);

/** Whether `mcc` is a mobile country code some network uses (ITU-T E.212, as mcc-mnc-list has it). */
export const isKnownMcc = (mcc: string) => MNCS_BY_MCC.has(mcc);

/** MCC-MNC (and carrier) at the start of an IMSI, when they name a real network (2- or 3-digit MNC). */
export function imsiNetwork(digits: string): string | undefined {
  const networks = MNCS_BY_MCC.get(digits.slice(0, 3));
  if (!networks) return undefined;
  for (const mnc of [digits.slice(3, 6), digits.slice(3, 5)]) {
    const carrier = networks.get(mnc);
    if (carrier !== undefined) return `${digits.slice(0, 3)}-${mnc}${carrier ? ` (${carrier})` : ''}`;
  }
  return undefined;
}

/** The key reduced to letters and digits, lowercase: `Device_IMEI` → `deviceimei`. */
const normaliseKey = (key: string) => key.toLowerCase().replace(/[^a-z0-9]/g, '');

const KEY = {
  imei: /imei(?!sv)|deviceid$/,
  imeisv: /imeisv/,
  meid: /meid/,
  imsi: /imsi|subscriberid/,
  iccid: /iccid|simserial/,
  phone: /phone|mobile|msisdn|^tel$|telephone|phonenumber|cellnumber|^number$/,
  mac: /mac|bssid|wifiaddr|macaddr/,
  bluetooth: /bt|bluetooth|ble/,
  androidId: /androidid|ssaid/,
  advertising: /gaid|adid|advertis|idfa|oaid|aaid/,
  serial: /serial|^sn$|serialno/,
  latitude: /^lat$|latitude/,
  longitude: /^lon$|^lng$|longitude/,
  location: /location|^loc$|coords?|gps|geo/,
  carrier: /carrier|operator|^spn$|networkname|simoperator/,
  account: /userid|accountid|^uid$|^account$|xiaomiid|miid|^cuid$|passportid/,
  sms: /sms|msgbody|msgtext|messagebody|messagetext|^body$/,
  contact: /contact/,
  calendar: /calendar|event|dtstart|reminder/,
  nameLike: /name|displayname|nickname|^contacts?$/,
  bodyLike: /body|text|content/,
  titleLike: /title|summary|description/,
} as const;
/** Patterns tested on the whole key path (containers), not just the last key. */
const CONTEXT = {
  contact: /contact/,
  smsOrMessage: /sms|message/,
  sms: /sms/,
  calendarOrEvent: /calendar|event/,
} as const;

/** GSMA Reporting Body Identifiers: the first two digits of every allocated TAC. */
const IMEI_REPORTING_BODIES = new Set([
  '01',
  '10',
  '30',
  '33',
  '35',
  '44',
  '45',
  '49',
  '50',
  '51',
  '52',
  '53',
  '54',
  '86',
  '91',
  '98',
  '99',
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC_SEPARATED = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/;
const COORDINATE = /^-?\d{1,3}\.\d{4,}$/;

function macFinding(mac: string, bluetooth: boolean, confidence: number): Discovery | undefined {
  const bytes = mac.replace(/[:-]/g, '').toLowerCase();
  // All-zero, broadcast, multicast (I/G bit) and Android's constant 02:00:00:00:00:00 identify nobody.
  if (/^0+$/.test(bytes) || /^f+$/.test(bytes) || bytes === '020000000000') return undefined;
  if (Number.parseInt(bytes.slice(0, 2), 16) & 1) return undefined;
  return {
    dataType: bluetooth ? 'bluetooth-mac' : 'wifi-mac',
    confidence,
    evidence: 'MAC address (unicast, not a placeholder)',
  };
}

function phoneFinding(value: string, region: string | undefined, keyed: boolean): Discovery | undefined {
  const compact = value.replace(/[\s().-]/g, '');
  if (!/^\+?\d{7,15}$/.test(compact)) return undefined;
  const international = compact.startsWith('+');
  // Without a key that says "phone", only numbers written as numbers count: international, or
  // grouped with separators; a bare run of digits is too often a timestamp, price or id.
  if (!keyed && !international && !/[\s().-]/.test(value)) return undefined;
  const parsed = parsePhoneNumberFromString(
    value,
    (region ?? 'US') as Parameters<typeof parsePhoneNumberFromString>[1],
  );
  if (!parsed?.isValid()) return undefined;
  return {
    dataType: 'phone-number',
    confidence: keyed ? 0.95 : 0.75,
    evidence:
      `valid ${parsed.getType()?.toLowerCase() ?? ''} number (${parsed.country ?? region ?? '?'})`.replace(
        '  ',
        ' ',
      ),
  };
}

/** Key-name hints, computed once per distinct key and path (keys repeat far more than values). */
interface KeyHints {
  readonly key: Readonly<Record<keyof typeof KEY, boolean>>;
  readonly context: Readonly<Record<keyof typeof CONTEXT, boolean>>;
}
const HINTS = new Map<string, Map<string, KeyHints>>();
let hintCount = 0;

function hintsFor(variantKey: string, path: string): KeyHints {
  let byPath = HINTS.get(variantKey);
  let hints = byPath?.get(path);
  if (!hints) {
    const last = normaliseKey(
      variantKey
        .split(/[.[\]]/)
        .filter(Boolean)
        .pop() ?? variantKey,
    );
    // Containers give context the last key lacks: `$.contacts[0].number`, `$.sms[0].to`.
    const whole = normaliseKey(`${variantKey} ${path}`);
    const test = <T extends Record<string, RegExp>>(patterns: T, text: string) =>
      Object.fromEntries(
        Object.entries(patterns).map(([name, pattern]) => [name, pattern.test(text)]),
      ) as Record<keyof T, boolean>;
    hints = { key: test(KEY, last), context: test(CONTEXT, whole) };
    if (++hintCount > 10_000) {
      HINTS.clear();
      hintCount = 1;
    }
    if (!byPath || !HINTS.has(variantKey)) {
      byPath = new Map();
      HINTS.set(variantKey, byPath);
    }
    byPath.set(path, hints);
  }
  return hints;
}

/** What this value is, if it is personal data; `region` reads national phone numbers. */
export function discover(variant: Variant, region: string | undefined): Discovery | undefined {
  const value = variant.value.trim();
  if (value.length === 0 || value.length > 512) return undefined;
  const { key: k, context: c } = hintsFor(variant.key, variant.path);
  // Identifiers are short: long text can only be message or calendar text, a name or an address.
  const short = value.length <= 40;
  const digits = short ? value.replace(/[\s-]/g, '') : '';

  if (short && /^\d{14,20}$/.test(digits)) {
    const luhn = isLuhnValid(digits);
    if (digits.length === 15) {
      const network = imsiNetwork(digits);
      if (k.imsi && network)
        return { dataType: 'imsi', confidence: 0.98, evidence: `IMSI of network ${network}, key name` };
      // The TAC's first two digits are a GSMA Reporting Body Identifier; without a key naming an
      // IMEI, a Luhn-valid number must start with one (the full TAC database is not public).
      if (
        luhn &&
        digits.slice(0, 8) !== '00000000' &&
        (k.imei || IMEI_REPORTING_BODIES.has(digits.slice(0, 2)))
      )
        return {
          dataType: 'imei',
          confidence: k.imei ? 0.99 : 0.9,
          evidence: '15 digits, Luhn check digit valid',
        };
      if (network && !k.imei)
        return { dataType: 'imsi', confidence: 0.8, evidence: `15 digits, MCC/MNC ${network}` };
    }
    if (digits.length === 16 && k.imeisv)
      return { dataType: 'imeisv', confidence: 0.95, evidence: '16 digits, key name IMEISV' };
    if (digits.length === 14 && k.imei)
      return {
        dataType: 'imei',
        confidence: 0.85,
        evidence: '14 digits (IMEI without check digit), key name',
      };
    if ((digits.length === 19 || digits.length === 20) && digits.startsWith('89') && luhn) {
      return { dataType: 'iccid', confidence: 0.95, evidence: 'ICCID: 89 prefix, Luhn valid (ITU-T E.118)' };
    }
    if (digits.length === 18 && k.meid)
      return { dataType: 'meid', confidence: 0.9, evidence: '18-digit decimal MEID, key name' };
  }
  if (/^[0-9a-f]{14}$/i.test(value) && (k.meid || /^[a-f]/i.test(value))) {
    if (k.meid) return { dataType: 'meid', confidence: 0.95, evidence: '14 hex digits, key name MEID' };
  }
  if (MAC_SEPARATED.test(value)) return macFinding(value, k.bluetooth, 0.9);
  if (/^[0-9a-f]{12}$/i.test(value) && k.mac) return macFinding(value, k.bluetooth, 0.85);
  if (/^[0-9a-f]{16}$/i.test(value) && k.androidId)
    return { dataType: 'android-id', confidence: 0.95, evidence: '16 hex digits, key name Android ID' };
  if (UUID.test(value) && k.advertising && !/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(value)) {
    return { dataType: 'advertising-id', confidence: 0.95, evidence: 'UUID under an advertising-ID key' };
  }
  if (EMAIL.test(value)) {
    const parsed = parseDomain(value.slice(value.lastIndexOf('@') + 1));
    if (parsed.domain && (parsed.isIcann || parsed.isPrivate))
      return { dataType: 'email', confidence: 0.95, evidence: 'e-mail address with a registrable domain' };
  }
  if (COORDINATE.test(value)) {
    const n = Number(value);
    if (k.latitude && Math.abs(n) <= 90)
      return { dataType: 'location', confidence: 0.9, evidence: 'latitude with 4+ decimals' };
    if (k.longitude && Math.abs(n) <= 180)
      return { dataType: 'location', confidence: 0.9, evidence: 'longitude with 4+ decimals' };
  }
  const pair = /^(-?\d{1,2}\.\d{4,})\s*,\s*(-?\d{1,3}\.\d{4,})$/.exec(value);
  if (pair && Math.abs(Number(pair[1])) <= 90 && Math.abs(Number(pair[2])) <= 180) {
    return {
      dataType: 'location',
      confidence: k.location ? 0.95 : 0.8,
      evidence: 'latitude,longitude pair with 4+ decimals',
    };
  }
  const inContact = c.contact || c.smsOrMessage;
  const phone = short ? phoneFinding(value, region, k.phone || inContact) : undefined;
  if (phone)
    return inContact
      ? { ...phone, dataType: 'contact', evidence: `${phone.evidence}, in a contact/SMS field` }
      : phone;
  const letters = /\p{L}/u.test(value);
  if (k.carrier && letters && value.length <= 64)
    return { dataType: 'carrier-name', confidence: 0.85, evidence: 'text in a carrier/operator field' };
  if (short && CARRIER_NAMES.has(value.toLowerCase()))
    return { dataType: 'carrier-name', confidence: 0.85, evidence: 'operator name from the MCC/MNC list' };
  if (k.serial && /^[A-Za-z0-9]{6,20}$/.test(value) && /\d/.test(value))
    return { dataType: 'serial-number', confidence: 0.8, evidence: 'alphanumeric under a serial-number key' };
  if (k.account && (/^\d{5,20}$/.test(value) || (/^[A-Za-z0-9_-]{8,64}$/.test(value) && /\d/.test(value)))) {
    return { dataType: 'account-id', confidence: 0.7, evidence: 'identifier under an account key' };
  }
  if ((k.sms || (c.sms && k.bodyLike)) && letters && /\s/.test(value)) {
    return { dataType: 'sms-content', confidence: 0.7, evidence: 'free text in an SMS/message field' };
  }
  if (c.contact && k.nameLike && letters && value.length >= 2 && value.length <= 64) {
    return { dataType: 'contact', confidence: 0.7, evidence: 'name in a contact field' };
  }
  if ((k.calendar || (c.calendarOrEvent && k.titleLike)) && letters && /\s/.test(value)) {
    return { dataType: 'calendar-entry', confidence: 0.6, evidence: 'text in a calendar/event field' };
  }
  return undefined;
}
