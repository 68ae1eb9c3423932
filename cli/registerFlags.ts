import type { PersonalDataType } from '../core/classify/dataTypes.ts';

/** Flags of `leakwatch devices register`, each naming the data type it registers (repeatable). */
export const REGISTER_FLAGS: ReadonlyArray<
  readonly [flag: string, option: string, dataType: PersonalDataType, canary: boolean, help: string]
> = [
  ['--imei <value>', 'imei', 'imei', false, 'IMEI (repeat for dual-SIM)'],
  ['--imeisv <value>', 'imeisv', 'imeisv', false, 'IMEISV'],
  ['--meid <value>', 'meid', 'meid', false, 'MEID'],
  ['--imsi <value>', 'imsi', 'imsi', false, 'IMSI'],
  ['--iccid <value>', 'iccid', 'iccid', false, 'ICCID (SIM serial)'],
  ['--phone <value>', 'phone', 'phone-number', false, "the device's own phone number"],
  ['--wifi-mac <value>', 'wifiMac', 'wifi-mac', false, 'Wi-Fi MAC address'],
  ['--bluetooth-mac <value>', 'bluetoothMac', 'bluetooth-mac', false, 'Bluetooth MAC address'],
  ['--android-id <value>', 'androidId', 'android-id', false, 'Android ID (SSAID)'],
  ['--advertising-id <value>', 'advertisingId', 'advertising-id', false, 'advertising ID (GAID/OAID)'],
  ['--serial <value>', 'serial', 'serial-number', false, 'hardware serial number'],
  ['--email <value>', 'email', 'email', false, 'account e-mail'],
  ['--account-id <value>', 'accountId', 'account-id', false, 'vendor account id'],
  ['--canary-contact-name <value>', 'canaryContactName', 'contact', true, 'planted contact name'],
  ['--canary-contact-number <value>', 'canaryContactNumber', 'contact', true, 'planted contact number'],
  ['--canary-sms <text>', 'canarySms', 'sms-content', true, 'planted SMS text'],
  ['--canary-calendar <text>', 'canaryCalendar', 'calendar-entry', true, 'planted calendar entry'],
];
