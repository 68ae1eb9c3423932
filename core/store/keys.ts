import type { Device, Firmware } from '../../schema/flowRecord.ts';

/** Key parts are URI-encoded so `#` and `|` inside names never split a key. */
const part = (value: string) => encodeURIComponent(value);

/** Identifies a firmware line of a device model. */
export function lineKey(device: Pick<Device, 'vendor' | 'model'>, firmware: Pick<Firmware, 'line'>): string {
  return `${part(device.vendor)}|${part(device.model)}|${part(firmware.line)}`;
}

export const keys = {
  build: (line: string, firmware: Pick<Firmware, 'build' | 'builtAt'>) => ({
    pk: `LINE#${line}`,
    sk: `BUILD#${firmware.builtAt}#${part(firmware.build)}`,
  }),
  buildsOfLine: (line: string) => `LINE#${line}`,
  buildSortKey: (firmware: Pick<Firmware, 'build' | 'builtAt'>) =>
    `BUILD#${firmware.builtAt}#${part(firmware.build)}`,
  observations: (line: string, build: string) => `BUILD#${line}#${part(build)}`,
  observation: (
    line: string,
    build: string,
    o: { registrableDomain: string; host: string; transport: string; dataType: string },
  ) => ({
    pk: `BUILD#${line}#${part(build)}`,
    sk: `OBS#${part(o.registrableDomain)}#${part(o.host)}#${o.transport}#${o.dataType}`,
  }),
  flowMarker: (flowId: string) => ({ pk: `FLOW#${flowId}`, sk: 'FLOW' }),
  alerts: (line: string) => `ALERTS#${line}`,
  alert: (line: string, a: { rule: string; registrableDomain: string; dataType: string }) => ({
    pk: `ALERTS#${line}`,
    sk: `ALERT#${a.rule}#${part(a.registrableDomain)}#${a.dataType}`,
  }),
};
