import { isIP } from 'node:net';
import { z } from 'zod';
import {
  FLOW_RECORD_SCHEMA_VERSION,
  type FlowRecord,
  type LabContext,
  MAX_CANDIDATES_PER_FLOW,
} from '../../schema/flowRecord.ts';
import { extractCandidates } from '../candidates.ts';
import type { HttpRequest } from '../decode/http1.ts';
import { CaptureFormatError } from '../errors.ts';
import { flowId, summariseRequest } from '../recordParts.ts';
import { PROBE_VERSION } from '../version.ts';

/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) as mitmproxy (`hardump`, savehar),
 * browsers and Charles write it: the lab's view into TLS traffic that a proxy decrypted. Each entry
 * becomes one flow record with its request. `transport` is how the request travelled (https →
 * `tls`); the candidates come from the decrypted request either way. HAR has no packets and no
 * client address, so those fields are absent or zero.
 */
// Real exports put null in optional fields (Firefox: headersSize null), so every optional field is nullish.
const HeaderSchema = z.object({
  name: z.string(),
  value: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
});
const EntrySchema = z.object({
  startedDateTime: z.string(),
  time: z.number().nullish(),
  serverIPAddress: z.string().nullish(),
  request: z.object({
    method: z.string().min(1),
    url: z.string().min(1),
    httpVersion: z.string().nullish(),
    headers: z
      .array(HeaderSchema)
      .nullish()
      .transform((v) => v ?? []),
    headersSize: z.number().nullish(),
    bodySize: z.number().nullish(),
    postData: z
      .object({
        mimeType: z.string().nullish(),
        text: z.string().nullish(),
        params: z.array(z.object({ name: z.string(), value: z.string().nullish() })).nullish(),
      })
      .nullish(),
  }),
  response: z.object({ headersSize: z.number().nullish(), bodySize: z.number().nullish() }).nullish(),
});
const HarSchema = z.object({ log: z.object({ entries: z.array(z.unknown()) }) });

export interface HarReadResult {
  readonly records: FlowRecord[];
  readonly entries: number;
  /** Entries that could not be used, with the reason (`entry 3: request.url: …`). */
  readonly skipped: string[];
}

const nonNegative = (n: number | null | undefined) => (typeof n === 'number' && n > 0 ? n : 0);

/** Parses a HAR document; a file that is not HAR JSON throws `CaptureFormatError`. */
export function readHar(text: string, source: string, context: LabContext): HarReadResult {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new CaptureFormatError(`${source}: not a HAR file: ${(error as Error).message}`, { cause: error });
  }
  const har = HarSchema.safeParse(json);
  if (!har.success) {
    const issue = har.error.issues[0]!;
    throw new CaptureFormatError(
      `${source}: not a HAR file: ${issue.path.join('.') || '(document)'}: ${issue.message} (expected { "log": { "entries": [...] } })`,
    );
  }
  const records: FlowRecord[] = [];
  const skipped: string[] = [];
  har.data.log.entries.forEach((raw, index) => {
    const result = harEntryRecord(raw, index, source, context);
    if ('skipped' in result) skipped.push(result.skipped);
    else records.push(result.record);
  });
  return { records, entries: har.data.log.entries.length, skipped };
}

/** One HAR entry (parsed JSON) as a flow record, or why it was skipped (`entry 3: request.url: …`). */
export function harEntryRecord(
  raw: unknown,
  index: number,
  source: string,
  context: LabContext,
): { record: FlowRecord } | { skipped: string } {
  if (raw instanceof SyntaxError)
    return { skipped: `entry ${index}: not JSON: ${raw.message.slice(0, 200)}` };
  const parsed = EntrySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { skipped: `entry ${index}: ${issue.path.join('.')}: ${issue.message}` };
  }
  const entry = parsed.data;
  let url: URL;
  try {
    url = new URL(entry.request.url);
  } catch {
    return {
      skipped: `entry ${index}: request.url ${JSON.stringify(entry.request.url.slice(0, 200))} is not a URL`,
    };
  }
  const started = Date.parse(entry.startedDateTime);
  if (Number.isNaN(started))
    return {
      skipped: `entry ${index}: startedDateTime ${JSON.stringify(entry.startedDateTime.slice(0, 64))} is not a date`,
    };
  if (started < 0 || started > MAX_TIME_MS)
    return {
      skipped: `entry ${index}: startedDateTime ${JSON.stringify(entry.startedDateTime.slice(0, 64))} is not between 1970 and 9999`,
    };
  return { record: toRecord(entry, url, started, index, source, context) };
}

/** 9999-12-31T23:59:59.999Z: the last instant a record's ISO 8601 times can name. */
const MAX_TIME_MS = 253_402_300_799_999;

function toRecord(
  entry: z.infer<typeof EntrySchema>,
  url: URL,
  started: number,
  index: number,
  source: string,
  context: LabContext,
): FlowRecord {
  const { request } = entry;
  const tls = url.protocol === 'https:' || url.protocol === 'wss:';
  const host = url.hostname.toLowerCase();
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  // HTTP/2 pseudo-headers (:authority, :path…) are not headers of the request's content.
  const headers = request.headers
    .filter((h) => !h.name.startsWith(':'))
    .map((h) => [h.name, h.value] as const);
  let body = Buffer.alloc(0);
  if (request.postData?.text != null) body = Buffer.from(request.postData.text, 'utf8');
  else if (request.postData?.params)
    body = Buffer.from(
      new URLSearchParams(
        request.postData.params.map((p): [string, string] => [p.name, p.value ?? '']),
      ).toString(),
    );
  const target = `${url.pathname}${url.search}`;
  const contentType =
    request.postData?.mimeType ?? headers.find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  const httpRequest: HttpRequest = {
    method: request.method,
    target,
    version: request.httpVersion || 'HTTP/1.1',
    headers:
      contentType && !headers.some(([name]) => name.toLowerCase() === 'content-type')
        ? [...headers, ['Content-Type', contentType]]
        : headers,
    body,
    bodyTruncated: false,
  };
  const { candidates, dropped } = extractCandidates(httpRequest, 0, MAX_CANDIDATES_PER_FLOW);
  const serverIp = entry.serverIPAddress?.replace(/^\[|\]$/g, '');
  // A duration that is not a number of milliseconds that ends by the year 9999 (1e300, say) is not one.
  const time = entry.time ?? 0;
  const duration = Number.isFinite(time) && time > 0 ? Math.min(time, MAX_TIME_MS - started) : 0;
  const id = flowId(context.session.id, 'har', index, entry.startedDateTime, request.method, request.url);
  return {
    schemaVersion: FLOW_RECORD_SCHEMA_VERSION,
    device: context.device,
    firmware: context.firmware,
    session: context.session,
    flow: {
      id,
      protocol: 'tcp',
      server: { ...(serverIp && isIP(serverIp) ? { ip: serverIp } : {}), port },
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(started + duration).toISOString(),
      packets: { toServer: 0, toClient: 0 },
      bytes: { toServer: 0, toClient: 0 },
      payloadBytes: {
        toServer: nonNegative(entry.request.headersSize) + nonNegative(entry.request.bodySize),
        toClient: nonNegative(entry.response?.headersSize) + nonNegative(entry.response?.bodySize),
      },
      end: 'capture-end',
    },
    names: { httpHost: host, ...(tls ? { sni: host } : {}) },
    transport: tls ? 'tls' : 'plaintext',
    application: 'http',
    http: [summariseRequest(httpRequest, host)],
    candidates,
    ...(dropped > 0 ? { limits: { candidatesDropped: dropped } } : {}),
    probe: { version: PROBE_VERSION, capture: source, input: 'har' },
  };
}
