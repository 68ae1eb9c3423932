import { describe, expect, it } from '@jest/globals';
import { isLuhnValid } from '../../core/classify/luhn.ts';
import { classifyCandidate, mask } from '../../core/classify/personalData.ts';
import { shapeOf } from '../../probe/candidates.ts';
import type { Candidate } from '../../schema/flowRecord.ts';

const candidate = (key: string, value: string, location: Candidate['location'] = 'query'): Candidate => ({
  request: 0,
  location,
  key,
  value,
  shape: shapeOf(value),
});
const typeOf = (key: string, value: string, region = 'CN') =>
  classifyCandidate(candidate(key, value), region)?.dataType;

describe('isLuhnValid', () => {
  it('accepts the 3GPP TS 23.003 Annex B example IMEI and rejects a changed digit', () => {
    expect(isLuhnValid('490154203237518')).toBe(true);
    expect(isLuhnValid('490154203237519')).toBe(false);
  });
});

describe('classifyCandidate', () => {
  it('finds an IMEI by its Luhn check digit whatever the key', () => {
    expect(typeOf('x', '490154203237518')).toBe('imei');
    expect(typeOf('d', '49-015420-323751-8')).toBe('imei');
  });

  it('does not call a 15-digit number failing Luhn an IMEI', () => {
    expect(typeOf('order', '490154203237519')).not.toBe('imei');
  });

  it('finds an IMSI by its MCC, and by key name when it happens to pass Luhn', () => {
    expect(typeOf('sub', '460001234567891')).toBe('imsi'); // MCC 460 China, fails Luhn
    expect(typeOf('imsi', '460001234567890')).toBe('imsi'); // passes Luhn, but the key says IMSI
  });

  it('finds phone numbers in international and national form, with the SIM region', () => {
    expect(typeOf('phone', '+86 138 0013 8000')).toBe('phone-number');
    expect(typeOf('phone', '13800138000', 'CN')).toBe('phone-number');
    expect(typeOf('to', '+44 20 7946 0958', 'CN')).toBe('phone-number');
  });

  it('does not take timestamps, prices or versions for phone numbers', () => {
    expect(typeOf('ts', '1407488400000')).toBeUndefined();
    expect(typeOf('price', '1299.00')).toBeUndefined();
    expect(typeOf('v', '4.4.2')).toBeUndefined();
  });

  it('calls a number in a contact field a contact', () => {
    expect(
      classifyCandidate(candidate('$.contacts[0].number', '+86 139 1099 8765', 'json'), 'CN')?.dataType,
    ).toBe('contact');
  });

  it('finds e-mail addresses with a real public suffix only', () => {
    expect(typeOf('u', 'li.wei@example.com')).toBe('email');
    expect(typeOf('u', 'a@b.notarealsuffixxx')).toBeUndefined();
  });

  it('finds carrier names by key name and by the operator list', () => {
    expect(typeOf('carrier', 'China Mobile')).toBe('carrier-name');
    expect(typeOf('x', 'china unicom')).toBe('carrier-name');
    expect(typeOf('x', 'hello world')).toBeUndefined();
  });

  it('records where the value was and masks it', () => {
    const finding = classifyCandidate(candidate('$.device.imei', '864690020123454', 'json'), 'CN');

    expect(finding).toEqual({
      dataType: 'imei',
      where: 'json:$.device.imei',
      masked: '8646•••••••3454',
      evidence: '15 digits, Luhn check digit valid',
    });
  });
});

describe('mask', () => {
  it('never returns the value', () => {
    expect(mask('1234')).toBe('••••');
    expect(mask('+86 138 0013 8000')).toBe('+86 •••••••••8000');
    for (const value of ['12345', '864690020123454', 'leakwatch canary 7f3a: meet at 6']) {
      expect(mask(value)).not.toContain(value.slice(4, -4) || value);
    }
  });
});
