import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { classifyCandidates } from '../../core/classify/classifyCandidates.ts';
import { isLuhnValid } from '../../core/classify/luhn.ts';
import { mask } from '../../core/classify/mask.ts';
import { expandValue, VariantBudget } from '../../core/classify/variants.ts';
import {
  KeyedHasher,
  KnownValueIndex,
  keyedDigest,
  mergedFingerprints,
  type RegisteredValue,
  registration,
  ValueDigester,
  writtenForms,
} from '../../core/registry/knownValues.ts';
import { sipHash24, sipKey } from '../../core/registry/siphash.ts';
import type { Candidate } from '../../schema/flowRecord.ts';

const c = (key: string, value: string, location: Candidate['location'] = 'query'): Candidate => ({
  request: 0,
  location,
  key,
  value,
  shape: 'text',
});
const types = (candidates: Candidate[], region = 'CN') =>
  classifyCandidates(candidates, { region })
    .findings.map((f) => f.dataType)
    .sort();
const one = (key: string, value: string) => types([c(key, value)]);

describe('discovery by shape and key name', () => {
  it.each([
    ['imei', 'x', '490154203237518'],
    ['imei', 'imei', '49015420323751'],
    ['imeisv', 'imeisv', '4901542032375186'],
    ['meid', 'meid', 'A0000000002329'],
    ['imsi', 'imsi', '460001234567890'],
    ['imsi', 'sub', '460001234567891'],
    ['iccid', 'x', '89860012345678901238'],
    ['phone-number', 'phone', '13800138000'],
    ['phone-number', 'to', '+44 20 7946 0958'],
    ['wifi-mac', 'x', 'a4:50:46:12:34:56'],
    ['wifi-mac', 'wifi_mac', 'A45046123456'],
    ['bluetooth-mac', 'bt_mac', 'a4:50:46:12:34:57'],
    ['android-id', 'android_id', '9774d56d682e549c'],
    ['advertising-id', 'gaid', '38400000-8cf0-11bd-b23e-10b96e40000d'],
    ['serial-number', 'serial', 'R58M12ABCDE'],
    ['email', 'u', 'li.wei@example.com'],
    ['location', 'lat', '39.90419'],
    ['location', 'lng', '116.40739'],
    ['location', 'pos', '39.90419,116.40739'],
    ['carrier-name', 'carrier', 'China Mobile'],
    ['carrier-name', 'x', 'china unicom'],
    ['account-id', 'userId', '1234567890'],
  ])('%s from %s=%s', (type, key, value) => {
    expect(one(key, value)).toEqual([type]);
  });

  it('reads contacts, SMS text and calendar entries from their containers', () => {
    expect(
      types([
        c('$.contacts[0].number', '+86 139 1099 8765', 'json'),
        c('$.contacts[0].name', 'Li Wei', 'json'),
      ]),
    ).toEqual(['contact', 'contact']);
    expect(types([c('$.sms[0].body', 'see you at 6', 'json')])).toEqual(['sms-content']);
    expect(types([c('$.event.title', 'Dentist appointment', 'json')])).toEqual(['calendar-entry']);
  });

  it.each([
    ['order', '490154203237519', '15-digit order number failing Luhn'],
    ['ts', '1407488400000', 'millisecond timestamp'],
    ['t', '1407488400', 'second timestamp'],
    ['request_id', '38400000-8cf0-11bd-b23e-10b96e40000d', 'request UUID (not an advertising key)'],
    ['v', '4.4.2', 'version string'],
    ['price', '1299.00', 'price'],
    ['id', '9774d56d682e549c', '16 hex digits without an Android ID key'],
    ['mac', '02:00:00:00:00:00', "Android's placeholder MAC"],
    ['mac', 'ff:ff:ff:ff:ff:ff', 'broadcast MAC'],
    ['lat', '39.9', 'coarse latitude'],
    ['gaid', '00000000-0000-0000-0000-000000000000', 'zeroed (limit ad tracking) advertising ID'],
    ['u', 'a@b.notarealsuffixxx', 'address without a public suffix'],
    ['count', '13800138000', 'mobile-shaped digits without a phone key'],
  ])('not personal data: %s=%s (%s)', (key, value) => {
    expect(one(key, value)).toEqual([]);
  });
});

describe('decoded variants', () => {
  const imei = '490154203237518';

  it.each([
    ['url', encodeURIComponent(JSON.stringify({ imei })), ['url', 'json']],
    ['base64', Buffer.from(`imei=${imei}&x=1`).toString('base64'), ['base64', 'form']],
    [
      'base64url',
      Buffer.from(JSON.stringify({ device: { imei }, n: '~~~' })).toString('base64url'),
      ['base64url', 'json'],
    ],
    ['hex', Buffer.from(`id:${imei}`).toString('hex'), ['hex', 'text']],
    ['gzip inside base64', gzipSync(JSON.stringify({ imei })).toString('base64'), ['base64', 'gzip', 'json']],
    ['JSON inside a JSON string', JSON.stringify({ payload: JSON.stringify({ imei }) }), ['json', 'json']],
  ])('finds an IMEI in %s', (_, value, chain) => {
    const { findings } = classifyCandidates([c('d', value, 'form')], {});

    expect(findings.map((f) => [f.dataType, f.chain])).toEqual([['imei', chain]]);
  });

  it('bounds the work per flow and counts what it cut', () => {
    const nested = (depth: number): unknown => (depth === 0 ? imei : { a: nested(depth - 1) });
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x41)).toString('base64');
    const budget = new VariantBudget();

    const deep = expandValue(JSON.stringify(nested(40)), 'k', budget);
    const bombVariants = expandValue(bomb, 'k', budget);

    expect(deep.some((v) => v.value === imei)).toBe(false);
    expect(bombVariants).toHaveLength(1);
    expect(budget.cut).toBeGreaterThan(0);
  });
});

describe('known values (registry of keyed digests)', () => {
  const keyBytes = randomBytes(32);
  const key = keyBytes;
  const registered: RegisteredValue[] = [
    { dataType: 'imei', value: '864690020123454' },
    { dataType: 'wifi-mac', value: 'A4:50:46:12:34:56' },
    { dataType: 'phone-number', value: '+86 138 0013 8000' },
    { dataType: 'sms-content', value: 'leakwatch canary 7f3a: meet at 6', canary: true },
  ];
  // As the registry loads it: digests, lengths and the prefilter's fingerprints.
  const stored = registration(key, registered);
  const index = new KnownValueIndex(key, stored.digests, stored.plainLengths, stored.fingerprints);
  const found = (key: string, value: string) =>
    classifyCandidates([c(key, value)], { known: index, digester: new ValueDigester(keyBytes) }).findings;

  it('stores no value, only digests', () => {
    const digests = JSON.stringify([...stored.digests]);

    for (const { value } of registered) expect(digests).not.toContain(value);
    expect(digests).not.toContain('864690020123454');
  });

  it.each([
    ['plain', '864690020123454', 'plain'],
    ['MAC without separators, lowercase', 'a45046123456', 'plain'],
    ['MAC with dashes', 'A4-50-46-12-34-56', 'plain'],
    ['phone in national form', '13800138000', 'plain'],
    ['MD5 hex of the IMEI', createHash('md5').update('864690020123454').digest('hex'), 'md5-hex'],
    [
      'SHA-1 hex, uppercase',
      createHash('sha1').update('864690020123454').digest('hex').toUpperCase(),
      'sha1-hex',
    ],
    [
      'SHA-256 base64 of the MAC',
      createHash('sha256').update('a4:50:46:12:34:56').digest('base64'),
      'sha256-base64',
    ],
    [
      'MD5 of the uppercase MAC without separators',
      createHash('md5').update('A45046123456').digest('hex'),
      'md5-hex',
    ],
  ])('matches the %s', (_, value, form) => {
    const [finding] = found('x', value);

    expect(finding).toMatchObject({ source: 'known', confidence: 1, form });
  });

  it('wins over a guess, and names canaries', () => {
    const sms = found('note', 'Leakwatch canary 7f3a: meet at 6')[0];
    const imei = classifyCandidates([c('imsi', '864690020123454')], { known: index }).findings[0];

    expect(sms).toMatchObject({ dataType: 'sms-content', canary: true, source: 'known' });
    expect(imei).toMatchObject({ dataType: 'imei', source: 'known' });
  });

  it('the prefilter rules out look-alikes without an HMAC and never drops a registered form', () => {
    const unfiltered = new KnownValueIndex(key, stored.digests, stored.plainLengths);
    const filtered = new KnownValueIndex(key, stored.digests, stored.plainLengths, stored.fingerprints);
    // Every written form and hash of every registered value matches through both.
    const forms = registered.flatMap(({ dataType, value }) =>
      writtenForms(dataType, value).flatMap((form) => [
        form,
        ...(['md5', 'sha1', 'sha256'] as const).flatMap((a) => [
          createHash(a).update(form).digest('hex'),
          createHash(a).update(form).digest('base64'),
        ]),
      ]),
    );
    expect(forms.length).toBeGreaterThan(90);
    for (const form of forms) expect(filtered.match(form)).toEqual(unfiltered.match(form));
    // 13-digit millisecond timestamps have the length of a registered phone form: no HMAC for them.
    const before = filtered.stats.digested;
    for (let i = 0; i < 1000; i++)
      expect(filtered.match(String(1_400_000_000_000 + i * 7919))).toBeUndefined();
    expect(filtered.stats.digested - before).toBeLessThan(5);
    expect(filtered.stats.prefiltered).toBeGreaterThanOrEqual(995);
  });

  it('a registration without fingerprints (made before the prefilter) keeps matching, unfiltered', () => {
    expect(mergedFingerprints({}, [3, 1])).toEqual({});
    expect(mergedFingerprints({ fingerprints: [2] }, [3, 1])).toEqual({ fingerprints: [1, 2, 3] });
    expect(mergedFingerprints(undefined, [3])).toEqual({ fingerprints: [3] });
  });

  it('gives the same digest for every form of one value', () => {
    const plain = found('x', '864690020123454')[0]!;
    const hashed = found('x', createHash('sha256').update('864690020123454').digest('hex'))[0]!;

    expect(plain.digest).toBe(hashed.digest);
    expect(plain.masked).toBe('8646•••••••3454');
    expect(hashed.masked.startsWith('sha256-hex(')).toBe(true);
  });
});

describe('helpers', () => {
  it('SipHash-2-4 gives the reference results and the same over bytes as over UTF-16 strings', () => {
    const key = sipKey(Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'));
    const hex = (data: Buffer) => {
      const high = { value: 0 };
      const low = sipHash24(key, data, high);
      return `${high.value.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')}`;
    };
    // The paper's vector (message 00..0e) and two computed with OpenSSL 3 (`openssl mac … SIPHASH`).
    expect(hex(Buffer.from('000102030405060708090a0b0c0d0e', 'hex'))).toBe('a129ca6149be45e5');
    expect(hex(Buffer.alloc(0))).toBe('726fdb47dd0e0e31');
    expect(hex(Buffer.from('plain:8613800138000'))).toBe('ebebad9974fcbc11');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const bytes = Buffer.from(text, 'utf16le');
        expect(sipHash24(key, text)).toBe(sipHash24(key, bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('the buffered HMAC equals createHmac for any key and text (short, long, non-ASCII)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 2000 })),
        (keyBytes, text) => {
          const key = Buffer.from(keyBytes);
          const hasher = new KeyedHasher(key);
          expect(hasher.digest(text)).toBe(keyedDigest(key, text));
          // The buffer is reused: a shorter text after a longer one must not see its tail.
          expect(hasher.digest(text.slice(0, 3))).toBe(keyedDigest(key, text.slice(0, 3)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('Luhn: the 3GPP TS 23.003 Annex B example IMEI', () => {
    expect(isLuhnValid('490154203237518')).toBe(true);
    expect(isLuhnValid('490154203237519')).toBe(false);
  });

  it('mask keeps only the ends', () => {
    expect(mask('1234')).toBe('••••');
    expect(mask('+86 138 0013 8000')).toBe('+86 •••••••••8000');
  });
});
