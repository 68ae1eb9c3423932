import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { PersonalDataType } from '../../core/classify/dataTypes.ts';
import type { RegisteredValue } from '../../core/registry/knownValues.ts';

/**
 * The labelled evaluation set for personal-data detection (test/fixtures/evaluation/labelled-requests.json).
 * Each case is one request value in one place, written one way, with the data types it truly
 * contains. Positives: every data type × realistic keys × encodings; in `registered` mode the
 * device's values are registered (so hashed forms and neutral keys count), in `discovery` mode they
 * are not (only shape and key name can tell). Negatives: values that look alike but identify nobody.
 * Deterministic: regenerate with `npm run eval:build`; a test checks the file matches.
 */
export interface EvaluationCase {
  readonly id: string;
  readonly mode: 'registered' | 'discovery';
  readonly location: 'query' | 'form' | 'json' | 'header';
  readonly key: string;
  readonly value: string;
  readonly expected: PersonalDataType[];
}

export interface EvaluationSet {
  readonly comment: string;
  readonly region: string;
  readonly registered: RegisteredValue[];
  readonly cases: EvaluationCase[];
}

/** The test device: values of the right shapes (IMEI with a valid check digit, IMSI of China Mobile…). */
const DEVICE: Record<
  PersonalDataType,
  { values: string[]; keys: string[]; discoverable: 'shape' | 'key' | 'no' }
> = {
  imei: {
    values: ['864690020123454', '356938035643809'],
    keys: ['imei', 'deviceId', 'di'],
    discoverable: 'shape',
  },
  imeisv: { values: ['3569380356438091'], keys: ['imeisv'], discoverable: 'key' },
  meid: { values: ['A0000000002329'], keys: ['meid'], discoverable: 'key' },
  imsi: {
    values: ['460001357924680', '460021234567891'],
    keys: ['imsi', 'subscriber_id', 'si'],
    discoverable: 'shape',
  },
  iccid: { values: ['89860012345678901238'], keys: ['iccid', 'sim_serial', 'sn2'], discoverable: 'shape' },
  'phone-number': {
    values: ['+86 138 0013 8000', '+8613912345678'],
    keys: ['phone', 'msisdn', 'mobile'],
    discoverable: 'shape',
  },
  'wifi-mac': { values: ['a4:50:46:12:34:56'], keys: ['wifi_mac', 'mac', 'bssid'], discoverable: 'shape' },
  'bluetooth-mac': {
    values: ['a4:50:46:12:34:57'],
    keys: ['bt_mac', 'bluetooth_address'],
    discoverable: 'key',
  },
  'android-id': { values: ['9774d56d682e549c'], keys: ['android_id', 'ssaid'], discoverable: 'key' },
  'advertising-id': {
    values: ['38400000-8cf0-11bd-b23e-10b96e40000d'],
    keys: ['gaid', 'oaid', 'advertising_id'],
    discoverable: 'key',
  },
  'serial-number': {
    values: ['R58M12ABCDE', '0123456789ABCDEF'],
    keys: ['serial', 'sn', 'serialno'],
    discoverable: 'key',
  },
  email: {
    values: ['li.wei@example.com', 'lab.tester+7@mail.example.org'],
    keys: ['email', 'user', 'account_mail'],
    discoverable: 'shape',
  },
  location: { values: ['39.90419,116.40739'], keys: ['location', 'gps', 'loc'], discoverable: 'shape' },
  'carrier-name': {
    values: ['China Mobile'],
    keys: ['carrier', 'operator', 'sim_operator'],
    discoverable: 'key',
  },
  'account-id': { values: ['1234567890'], keys: ['userId', 'account_id', 'xiaomi_id'], discoverable: 'key' },
  contact: {
    values: ['Canary Contact', '+86 139 1099 8765'],
    keys: ['contact_name', 'contact'],
    discoverable: 'key',
  },
  'sms-content': {
    values: ['leakwatch canary 7f3a: meet at 6'],
    keys: ['sms_body', 'sms'],
    discoverable: 'key',
  },
  'calendar-entry': {
    values: ['Dentist appointment at 10'],
    keys: ['calendar_title', 'event'],
    discoverable: 'key',
  },
};

/** Neutral keys that say nothing about the value. */
const NEUTRAL_KEYS = ['d', 'p1', 'data'];

type Encoding = {
  name: string;
  apply: (value: string, key: string) => { value: string; location?: EvaluationCase['location'] };
  hashed?: boolean;
};
const ENCODINGS: Encoding[] = [
  { name: 'plain', apply: (v) => ({ value: v }) },
  { name: 'url', apply: (v, k) => ({ value: encodeURIComponent(JSON.stringify({ [k]: v })) }) },
  {
    name: 'base64',
    apply: (v, k) => ({ value: Buffer.from(`${k}=${encodeURIComponent(v)}&t=1`).toString('base64') }),
  },
  {
    name: 'base64url',
    apply: (v, k) => ({ value: Buffer.from(JSON.stringify({ [k]: v, pad: '~~~' })).toString('base64url') }),
  },
  { name: 'hex', apply: (v, k) => ({ value: Buffer.from(JSON.stringify({ [k]: v })).toString('hex') }) },
  {
    name: 'gzip-base64',
    apply: (v, k) => ({ value: gzipSync(JSON.stringify({ [k]: v })).toString('base64') }),
  },
  {
    name: 'json-in-string',
    apply: (v, k) => ({ value: JSON.stringify({ payload: JSON.stringify({ [k]: v }) }), location: 'json' }),
  },
  { name: 'md5-hex', apply: (v) => ({ value: createHash('md5').update(v).digest('hex') }), hashed: true },
  {
    name: 'sha1-hex-upper',
    apply: (v) => ({ value: createHash('sha1').update(v).digest('hex').toUpperCase() }),
    hashed: true,
  },
  {
    name: 'sha256-base64',
    apply: (v) => ({ value: createHash('sha256').update(v).digest('base64') }),
    hashed: true,
  },
];

/** Look-alikes that identify nobody; `key` is where such values usually are. */
const NEGATIVES: [key: string, value: string, why: string][] = [
  ['order_id', '490154203237519', '15-digit order number failing Luhn'],
  ['order_no', '123456789012345', '15 digits, no valid check digit, no MCC'],
  ['ts', '1407488400000', 'millisecond timestamp'],
  ['t', '1700000000', 'second timestamp'],
  ['time', '2026-11-21T17:00:00Z', 'ISO timestamp'],
  ['request_id', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'request UUID under a non-advertising key'],
  ['trace_id', '6f1c0e0a-3a55-4a0e-9b1b-2f5c6c0a7d11', 'trace UUID'],
  ['v', '4.4.2', 'version string'],
  ['os_version', 'KHHCNBH39.0', 'build id'],
  ['app_version', '10.2.3.1', 'dotted version'],
  ['price', '1299.00', 'price'],
  ['amount', '45.5000', 'amount with decimals'],
  ['sig', 'a94a8fe5ccb19ba61c4c0873d391e987', 'MD5-shaped signature of other data'],
  ['token', 'ZXlKaGJHY2lPaUpJVXpJMU5pSjk', 'opaque base64 token'],
  ['session', '9f86d081884c7d65', '16 hex digits under a session key'],
  ['hash', 'a4504612345699', '14 hex digits under a non-MEID key'],
  ['count', '13912340000', 'mobile-shaped digits without a phone key'],
  ['size', '1048576', 'byte count'],
  ['w', '1080', 'screen width'],
  ['mac', '02:00:00:00:00:00', "Android's placeholder MAC"],
  ['bssid', 'ff:ff:ff:ff:ff:ff', 'broadcast MAC'],
  ['lat', '39.9', 'coarse latitude (city level)'],
  ['gaid', '00000000-0000-0000-0000-000000000000', 'zeroed advertising ID (limit ad tracking)'],
  ['mail', 'admin@localhost', 'address without a public suffix'],
  ['lang', 'zh_CN', 'locale'],
  ['d', 'armani', 'device codename'],
  ['model', 'RedMi 1S', 'model name'],
  ['ua', 'Dalvik/1.6.0 (Linux; U; Android 4.4.2)', 'user agent'],
  ['ip', '203.0.113.10', 'IP address'],
  ['id', '42', 'small id'],
  ['crc', '89860012345678901239', '89-prefixed digits failing Luhn'],
  ['zip', '100000', 'postal code'],
  ['seq', '000000000000000', 'zeros'],
  ['payload', Buffer.from('{"ok":true,"n":3}').toString('base64'), 'base64 JSON without identifiers'],
  ['data', gzipSync('{"status":"ok"}').toString('base64'), 'gzip without identifiers'],
];

export function buildEvaluationSet(): EvaluationSet {
  const cases: EvaluationCase[] = [];
  const registered: RegisteredValue[] = [];
  for (const [type, spec] of Object.entries(DEVICE) as [
    PersonalDataType,
    (typeof DEVICE)[PersonalDataType],
  ][]) {
    const canary = type === 'contact' || type === 'sms-content' || type === 'calendar-entry';
    for (const value of spec.values)
      registered.push({ dataType: type, value, ...(canary ? { canary: true } : {}) });
    spec.values.forEach((value, vi) => {
      for (const encoding of ENCODINGS) {
        // Registered: every typical key and a neutral one, every encoding.
        for (const key of [...spec.keys, NEUTRAL_KEYS[vi % NEUTRAL_KEYS.length]!]) {
          const { value: written, location } = encoding.apply(value, key);
          cases.push({
            id: `reg/${type}/${vi}/${encoding.name}/${key}`,
            mode: 'registered',
            location: location ?? 'query',
            key,
            value: written,
            expected: [type],
          });
        }
        // Discovery: what shape and key name can tell; hashes cannot be discovered.
        if (encoding.hashed || spec.discoverable === 'no') continue;
        const keys =
          spec.discoverable === 'shape' ? [...spec.keys, NEUTRAL_KEYS[vi % NEUTRAL_KEYS.length]!] : spec.keys;
        for (const key of keys) {
          const { value: written, location } = encoding.apply(value, key);
          cases.push({
            id: `disc/${type}/${vi}/${encoding.name}/${key}`,
            mode: 'discovery',
            location: location ?? 'query',
            key,
            value: written,
            expected: [type],
          });
        }
      }
    });
  }
  NEGATIVES.forEach(([key, value, why], i) => {
    for (const mode of ['registered', 'discovery'] as const) {
      cases.push({ id: `neg/${i}/${mode}/${why}`, mode, location: 'query', key, value, expected: [] });
    }
  });
  return {
    comment:
      'Generated by bench/detection/evaluationSet.ts (npm run eval:build). Values are test values of a fictional device.',
    region: 'CN',
    registered,
    cases,
  };
}
