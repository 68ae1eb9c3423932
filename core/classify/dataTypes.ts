/** Personal-data types leakwatch recognises, with the label people read. */
export const DATA_TYPE_LABELS = {
  imei: 'IMEI',
  imeisv: 'IMEISV',
  meid: 'MEID',
  imsi: 'IMSI',
  iccid: 'ICCID (SIM serial)',
  'phone-number': 'phone number',
  'wifi-mac': 'Wi-Fi MAC address',
  'bluetooth-mac': 'Bluetooth MAC address',
  'android-id': 'Android ID',
  'advertising-id': 'advertising ID',
  'serial-number': 'serial number',
  email: 'e-mail address',
  location: 'location',
  'carrier-name': 'carrier name',
  'account-id': 'account identifier',
  contact: 'contact details',
  'sms-content': 'SMS text',
  'calendar-entry': 'calendar entry',
} as const;

export type PersonalDataType = keyof typeof DATA_TYPE_LABELS;
export const PERSONAL_DATA_TYPES = Object.keys(DATA_TYPE_LABELS) as PersonalDataType[];

export function dataTypeLabel(type: PersonalDataType): string {
  return DATA_TYPE_LABELS[type];
}
