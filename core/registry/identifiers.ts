import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { PersonalDataType } from '../classify/dataTypes.ts';
import { isKnownMcc } from '../classify/discovery.ts';
import { isLuhnValid } from '../classify/luhn.ts';

/**
 * Checks an identifier a lab registers (`devices register`, a registration file) before its digests
 * are stored: a mistyped IMEI would otherwise be registered silently and never match, so the leak it
 * was meant to catch goes unseen. Returns what is wrong, or undefined when the value is plausible.
 * Canaries and free-form values (names, texts, account ids) are only required to be non-empty.
 */
export function identifierProblem(dataType: PersonalDataType, value: string): string | undefined {
  const text = value.trim();
  if (text.length === 0) return 'is empty';
  // Digits written in groups: "86-469002-012345-4", "8646 9002 0123 454".
  const digits = text.replace(/[\s./-]/g, '');
  switch (dataType) {
    case 'imei':
      if (!/^\d{15}$/.test(digits)) return 'is not an IMEI: 15 digits (3GPP TS 23.003 §6.2.1)';
      if (!isLuhnValid(digits))
        return 'is not an IMEI: its last digit is not the Luhn check digit of the first 14 (a typo?)';
      return undefined;
    case 'imeisv':
      return /^\d{16}$/.test(digits) ? undefined : 'is not an IMEISV: 16 digits (3GPP TS 23.003 §6.2.2)';
    case 'meid':
      return /^[0-9a-f]{14}$/i.test(digits) || /^\d{18}$/.test(digits)
        ? undefined
        : 'is not a MEID: 14 hexadecimal digits (or the 18-digit decimal form)';
    case 'imsi':
      if (!/^\d{14,15}$/.test(digits)) return 'is not an IMSI: 14 or 15 digits (ITU-T E.212)';
      if (!isKnownMcc(digits.slice(0, 3)))
        return `is not an IMSI: ${digits.slice(0, 3)} is not a mobile country code in use (the first 3 digits)`;
      return undefined;
    case 'iccid':
      if (!/^89\d{16,20}$/.test(digits))
        return 'is not an ICCID: 18 to 22 digits starting with 89 (ITU-T E.118)';
      return isLuhnValid(digits) || digits.length === 18
        ? undefined
        : 'is not an ICCID: its last digit is not the Luhn check digit (a typo?)';
    case 'phone-number': {
      if (!text.startsWith('+'))
        return 'is not an E.164 number: write it with + and the country code (e.g. "+86 138 0013 8000")';
      const number = parsePhoneNumberFromString(text);
      return number?.isValid()
        ? undefined
        : 'is not a valid E.164 number for its country code (libphonenumber number plans)';
    }
    case 'wifi-mac':
    case 'bluetooth-mac':
      return /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(text) || /^[0-9a-f]{12}$/i.test(text)
        ? undefined
        : 'is not a MAC address: six hex pairs such as 64:09:80:1a:2b:3c';
    case 'android-id':
      return /^[0-9a-f]{16}$/i.test(text) ? undefined : 'is not an Android ID: 16 hexadecimal digits';
    case 'advertising-id':
      return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)
        ? undefined
        : 'is not an advertising ID: a UUID such as 38400000-8cf0-11bd-b23e-10b96e40000d';
    case 'email':
      return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text) ? undefined : 'is not an e-mail address';
    default:
      return undefined;
  }
}
