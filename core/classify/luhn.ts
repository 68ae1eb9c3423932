/**
 * Luhn (mod 10), ISO/IEC 7812-1 Annex B; IMEI check digit per 3GPP TS 23.003 §6.2.1 and Annex B.
 * The check digit of a string of digits (the scenario makes valid IMEIs with it).
 */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // The body's rightmost digit is doubled: with the check digit appended it is second from the right.
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

/** Whether the last digit is the Luhn check digit of the ones before it. */
export function isLuhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  return luhnCheckDigit(digits.slice(0, -1)) === digits.charCodeAt(digits.length - 1) - 48;
}
