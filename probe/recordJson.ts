import { FLOW_RECORD_SCHEMA_VERSION, type FlowRecord, type LabContext } from '../schema/flowRecord.ts';
import { PROBE_VERSION } from './version.ts';

/**
 * A flow record's JSON text, written once by the probe and sent as is (NDJSON line, Kinesis record
 * data): what is the same in every record of a run (schema version, device, firmware, session and
 * the probe's own section) is serialised once, so a record costs only its flow's own fields.
 * The text is exactly `JSON.stringify` of the record object the flow table makes for the same flow
 * (key order included): test/cli/probeGolden.test.ts compares the probe's text for every bundled
 * capture with the records pinned from `JSON.stringify` before this encoder existed.
 */
export class RecordEncoder {
  /** `{"schemaVersion":1,…,"flow":{"id":"`: everything before the flow id. */
  readonly head: string;
  private tailText: string;

  constructor(
    context: LabContext,
    private readonly captureName: string,
    private readonly run: string,
  ) {
    this.head = `{"schemaVersion":${FLOW_RECORD_SCHEMA_VERSION},"device":${JSON.stringify(context.device)},"firmware":${JSON.stringify(context.firmware)},"session":${JSON.stringify(context.session)},"flow":{"id":"`;
    this.tailText = this.tailFor(undefined);
  }

  /** `,"probe":{…}}`: the end of every record (the input format is known after the file header). */
  get tail(): string {
    return this.tailText;
  }

  set input(input: FlowRecord['probe']['input']) {
    this.tailText = this.tailFor(input);
  }

  private tailFor(input: FlowRecord['probe']['input']): string {
    const probe = {
      version: PROBE_VERSION,
      capture: this.captureName,
      ...(input ? { input } : {}),
      run: this.run,
    };
    return `,"probe":${JSON.stringify(probe)}}`;
  }
}

/** The `names` object's members after `dns` (`"sni":…,"httpHost":…`), or '' when neither is known. */
export function namesAfterDns(sni: string | undefined, httpHost: string | undefined): string {
  if (sni === undefined) return httpHost === undefined ? '' : `"httpHost":${JSON.stringify(httpHost)}`;
  return httpHost === undefined
    ? `"sni":${JSON.stringify(sni)}`
    : `"sni":${JSON.stringify(sni)},"httpHost":${JSON.stringify(httpHost)}`;
}

/** `,"names":{…}` from the DNS name (looked up when the record is made) and the rest. */
export function namesJson(dns: string | undefined, rest: string): string {
  if (dns === undefined) return `,"names":{${rest}}`;
  return rest === ''
    ? `,"names":{"dns":${JSON.stringify(dns)}}`
    : `,"names":{"dns":${JSON.stringify(dns)},${rest}}`;
}

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * `new Date(floor(micros / 1000)).toISOString()`, with the text up to the second reused while
 * the second is the same (consecutive flows mostly start and end within one).
 */
export function isoOfMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const full = new Date(ms).toISOString();
    cachedSecond = second;
    cachedPrefix = full.slice(0, -4);
    return full;
  }
  const fraction = ms - second * 1000;
  return `${cachedPrefix}${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}Z`;
}
