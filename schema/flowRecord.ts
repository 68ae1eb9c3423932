import * as z from 'zod/mini';
import './zod.ts';

/**
 * Flow record, schema v1: what the probe says about one transport flow of one lab device.
 *
 * One module, imported by the probe (which builds records) and by the Lambdas (which parse them):
 * everything past `parseFlowRecord` is typed, nothing re-validates by hand. A change that is not
 * backwards compatible gets a new `schemaVersion` and a new schema next to this one.
 * Documented for humans in docs/flow-record.md.
 */
export const FLOW_RECORD_SCHEMA_VERSION = 1 as const;

/** Largest candidate value the probe sends; longer values are cut and flagged `truncated`. */
export const MAX_CANDIDATE_VALUE_LENGTH = 512;
/** Most candidates one record carries; the rest are counted in `limits.candidatesDropped`. */
export const MAX_CANDIDATES_PER_FLOW = 256;
/** Most HTTP requests described per flow (pipelined/keep-alive requests beyond are counted). */
export const MAX_HTTP_REQUESTS_PER_FLOW = 32;

const shortText = z.string().check(z.minLength(1), z.maxLength(256));
const count = z.number().check(z.int(), z.gte(0));
const isoTime = z.iso.datetime({ offset: false });
const port = z.number().check(z.int(), z.gte(0), z.lte(65535));
const ip = z.union([z.ipv4(), z.ipv6()]);

export const DeviceSchema = z.object({
  /** Lab's identifier of the physical device (asset tag), not a personal identifier. */
  id: shortText,
  vendor: shortText,
  model: shortText,
  /** ISO 3166-1 alpha-2 country of the device's SIM, used to read national-format phone numbers. */
  region: z.optional(z.string().check(z.regex(/^[A-Z]{2}$/))),
});

export const FirmwareSchema = z.object({
  /** Firmware line (e.g. `MIUI-CN-stable`); builds of one line are compared with each other. */
  line: shortText,
  /** Build identifier as the device reports it (e.g. `V5.3.1.0.KHHCNBL`). */
  build: shortText,
  /** Build date (`ro.build.date`), which orders builds within a line. */
  builtAt: isoTime,
});

export const ConsentStateSchema = z.enum(['granted', 'denied']);

export const LabSessionSchema = z.object({
  id: shortText,
  /** Consent state per service as set on the device for this session, e.g. `{ "xiaomi.cloud-messaging": "denied" }`. */
  consent: z.record(shortText, ConsentStateSchema),
  /** The named consent profile the states came from (`out-of-box`), when the lab used one. */
  consentProfile: z.optional(shortText),
});

export const EndpointSchema = z.object({ ip, port });

const PerDirectionSchema = z.object({ toServer: count, toClient: count });

export const FlowSchema = z.object({
  /**
   * Deterministic id (hex SHA-256 of session, 5-tuple and start time; for HAR, of session, entry
   * time, method and URL): a replay of the same input has the same ids.
   */
  id: z.string().check(z.regex(/^[0-9a-f]{32,64}$/)),
  protocol: z.enum(['tcp', 'udp']),
  /** The side that opened the flow (TCP SYN sender, else first sender); absent for HAR input. */
  client: z.optional(EndpointSchema),
  /** The server; a HAR entry may know only the port (from the URL), not the address. */
  server: z.object({ ip: z.optional(ip), port }),
  startedAt: isoTime,
  endedAt: isoTime,
  packets: PerDirectionSchema,
  /** Bytes at the IP layer (headers included), Zeek's `orig_ip_bytes`/`resp_ip_bytes` convention. */
  bytes: PerDirectionSchema,
  /** Transport payload bytes, Zeek's `orig_bytes`/`resp_bytes` convention. */
  payloadBytes: PerDirectionSchema,
  /**
   * How the record ended: TCP FIN from both sides or RST; idle `timeout`; `active-timeout` (a
   * long flow is reported in parts, each its own record); `evicted` by the flow table's memory cap;
   * or still open at `capture-end`.
   */
  end: z.enum(['fin', 'rst', 'timeout', 'active-timeout', 'evicted', 'capture-end']),
});

export const NamesSchema = z.object({
  /** Name that a DNS answer seen earlier in the capture gave for the server IP. */
  dns: z.optional(shortText),
  /** TLS ClientHello server_name. */
  sni: z.optional(shortText),
  /** HTTP Host header of the first request. */
  httpHost: z.optional(shortText),
});

/** How the flow's content travels: readable, TLS, QUIC (always encrypted), or not recognised. */
export const TransportSecuritySchema = z.enum(['plaintext', 'tls', 'quic', 'unknown']);

export const TlsSchema = z.object({
  /** Version in use: the server's choice when its ServerHello was seen, else the client's highest offer. */
  version: z.optional(shortText),
  /** Highest version the client offered (`TLS 1.3`, `TLS 1.2`, …). */
  offeredVersion: z.optional(shortText),
  /** The ClientHello offered Encrypted Client Hello; `sni` is then the outer (public) name. */
  ech: z.optional(z.boolean()),
  sni: z.optional(shortText),
  alpn: z.optional(z.array(shortText).check(z.maxLength(16))),
  /**
   * The client's records were decrypted with secrets the lab supplied (a key log, a pcapng secrets
   * block): `http` and `candidates` then come from inside the TLS connection. (Added in v1.)
   */
  decrypted: z.optional(z.literal(true)),
  /** The negotiated cipher suite (IANA name), when the flow was decrypted. */
  suite: z.optional(shortText),
});

export const HttpRequestSchema = z.object({
  method: z.string().check(z.minLength(1), z.maxLength(32)),
  /** Request target as sent (origin-form path and query, or absolute-form); empty when the request line had none. */
  target: z.string().check(z.maxLength(8192)),
  host: z.optional(shortText),
  userAgent: z.optional(z.string().check(z.maxLength(1024))),
  contentType: z.optional(z.string().check(z.maxLength(256))),
  /** Body length after de-chunking and decompression. */
  bodyBytes: count,
});

export const DnsAnswerSchema = z.object({
  name: shortText,
  type: z.enum(['A', 'AAAA', 'CNAME', 'TXT']),
  value: shortText,
  ttl: count,
});

export const DnsSchema = z.object({
  queries: z
    .array(z.object({ name: shortText, type: z.string().check(z.minLength(1), z.maxLength(16)) }))
    .check(z.maxLength(64)),
  answers: z.array(DnsAnswerSchema).check(z.maxLength(256)),
});

/** Where in a plaintext request a candidate value was found. */
export const CandidateLocationSchema = z.enum([
  'query',
  'path',
  'header',
  'cookie',
  'form',
  'json',
  'body-text',
]);

/** The probe's cheap guess of a value's shape; the ingest function decides what the value is. */
export const CandidateShapeSchema = z.enum([
  'digits',
  'phone-like',
  'email-like',
  'hex',
  'uuid',
  'base64',
  'coordinates',
  'text',
]);

/** A coding the probe undid before it found a candidate value. */
export const CandidateDecodingSchema = z.enum(['chunked', 'gzip', 'deflate', 'url-encoding']);

export const CandidateSchema = z.object({
  /** Index into `http` of the request that carried the value. */
  request: count,
  location: CandidateLocationSchema,
  /** Name of the field: query/form key, header name, JSON path (`$.device.imei`), or `@offset` for free text. */
  key: z.string().check(z.maxLength(512)),
  value: z.string().check(z.maxLength(MAX_CANDIDATE_VALUE_LENGTH)),
  shape: CandidateShapeSchema,
  truncated: z.optional(z.boolean()),
  /**
   * What the probe undid to find the value, in the order it undid it: the body's `chunked` transfer
   * coding, its `gzip` or `deflate` content coding, then `url-encoding` of a query, form or path
   * value. Absent when nothing was undone. (Added in v1: readers that do not know it ignore it.)
   */
  decoded: z.optional(z.array(CandidateDecodingSchema).check(z.maxLength(4))),
});

export const FlowRecordSchema = z.object({
  schemaVersion: z.literal(FLOW_RECORD_SCHEMA_VERSION),
  device: DeviceSchema,
  firmware: FirmwareSchema,
  session: LabSessionSchema,
  flow: FlowSchema,
  /** The app that made the flow, when the capture says (PCAPdroid's trailer: Android UID and app name). */
  app: z.optional(
    z.object({ uid: z.number().check(z.int()), name: z.optional(z.string().check(z.maxLength(64))) }),
  ),
  names: NamesSchema,
  transport: TransportSecuritySchema,
  application: z.enum(['http', 'tls', 'dns', 'quic', 'other']),
  quic: z.optional(z.object({ version: shortText })),
  tls: z.optional(TlsSchema),
  http: z.optional(z.array(HttpRequestSchema).check(z.maxLength(MAX_HTTP_REQUESTS_PER_FLOW))),
  dns: z.optional(DnsSchema),
  candidates: z.array(CandidateSchema).check(z.maxLength(MAX_CANDIDATES_PER_FLOW)),
  /** What the probe had to cut to keep the record bounded. */
  limits: z.optional(
    z.object({
      candidatesDropped: z.optional(count),
      httpRequestsDropped: z.optional(count),
      streamBytesDropped: z.optional(count),
      /**
       * HTTP/2 decoding stopped part-way (a header block HPACK could not decode, a malformed frame):
       * why. Requests after that point are not in `http`. (Added in v1.)
       */
      http2Stopped: z.optional(shortText),
      /** Bytes of JSON cut (DNS lists, long targets, the last candidates) to keep the record under 1 MiB. (Added in v1.) */
      recordBytesCut: z.optional(count),
    }),
  ),
  probe: z.object({
    version: shortText,
    capture: z.string().check(z.minLength(1), z.maxLength(1024)),
    /** What the probe read: a capture file format, a HAR export, or a live PCAPdroid feed. */
    input: z.optional(z.enum(['pcap', 'pcapng', 'har', 'pcapdroid-udp', 'pcap-over-tcp'])),
    /** One probe invocation; its session-end record says how many flow records it sent. */
    run: z.optional(shortText),
  }),
});

/**
 * Sent by the probe after the last flow record of a run (same partition key, so after every flow
 * of the run on the shard): the session is over, and `flows` records were sent for it in this run.
 * Ingest waits until that many flows of the run are counted, then settles the session's build
 * (alerts that the build no longer triggers are resolved).
 */
export const SessionEndRecordSchema = z.object({
  schemaVersion: z.literal(FLOW_RECORD_SCHEMA_VERSION),
  kind: z.literal('session-end'),
  device: DeviceSchema,
  firmware: FirmwareSchema,
  session: LabSessionSchema,
  endedAt: isoTime,
  flows: count,
  probe: z.object({ version: shortText, run: shortText }),
});
export type SessionEndRecord = z.infer<typeof SessionEndRecordSchema>;

export type Device = z.infer<typeof DeviceSchema>;
export type Firmware = z.infer<typeof FirmwareSchema>;
export type LabSession = z.infer<typeof LabSessionSchema>;
export type ConsentState = z.infer<typeof ConsentStateSchema>;
export type Flow = z.infer<typeof FlowSchema>;
export type Names = z.infer<typeof NamesSchema>;
export type TransportSecurity = z.infer<typeof TransportSecuritySchema>;
export type HttpRequestInfo = z.infer<typeof HttpRequestSchema>;
export type DnsInfo = z.infer<typeof DnsSchema>;
export type DnsAnswer = z.infer<typeof DnsAnswerSchema>;
export type Candidate = z.infer<typeof CandidateSchema>;
export type CandidateLocation = z.infer<typeof CandidateLocationSchema>;
export type CandidateShape = z.infer<typeof CandidateShapeSchema>;
export type CandidateDecoding = z.infer<typeof CandidateDecodingSchema>;
export type FlowRecord = z.infer<typeof FlowRecordSchema>;

/** The lab context the probe stamps on every record it makes. */
export const LabContextSchema = z.object({
  device: DeviceSchema,
  firmware: FirmwareSchema,
  session: LabSessionSchema,
});
export type LabContext = z.infer<typeof LabContextSchema>;

export class FlowRecordError extends Error {
  override name = 'FlowRecordError';
}

/** What the stream carries: flow records, and a session-end record after each probe run. */
export type StreamRecord = FlowRecord | SessionEndRecord;

export function isSessionEnd(record: StreamRecord): record is SessionEndRecord {
  return (record as { kind?: unknown }).kind === 'session-end';
}

/**
 * Parses one flow record from its wire form (UTF-8 JSON). Throws `FlowRecordError` naming the first
 * problems found (JSON syntax, unknown schema version, or the fields that failed validation).
 */
export function parseFlowRecord(data: Uint8Array | string): FlowRecord {
  const record = parseStreamRecord(data);
  if (isSessionEnd(record)) throw new FlowRecordError('record is a session-end record, not a flow record');
  return record;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** The path of the first string (value or key) holding a lone surrogate, or undefined. */
export function loneSurrogateAt(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = loneSurrogateAt(value[i], `${path}.${i}`.replace(/^\./, ''));
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}.${key}`.replace(/^\./, '');
    if (!key.isWellFormed()) return at;
    const found = loneSurrogateAt(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

let compiledFlowRecord: typeof FlowRecordSchema | undefined;

/**
 * `FlowRecordSchema` compiled by zod's ahead-of-time compiler (`z.compile`, zod ≥ 4.6): generated
 * code validates and copies a valid record (about 4× faster than the runtime parser: 2.3 µs against
 * 8.6 µs per probe record here) and hands anything it would reject to the runtime parser, so errors
 * and results are zod's own. Built on the first parse (about 20 ms), not at import, so a cold start
 * does not pay for it before a record arrives. `test/unit/flowRecordCompiled.test.ts` fails if the
 * schema stops compiling (zod would then quietly keep the runtime parser) or the two ever disagree.
 */
export function compiledFlowRecordSchema(): typeof FlowRecordSchema {
  compiledFlowRecord ??= z.compile(FlowRecordSchema);
  return compiledFlowRecord;
}

/**
 * Parses one stream record (a flow record, or a session-end record when `kind` says so). Throws
 * `FlowRecordError` naming the first problems found.
 */
export function parseStreamRecord(data: Uint8Array | string): StreamRecord {
  const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: false }).decode(data);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FlowRecordError(`record is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof json === 'object' && json !== null && 'schemaVersion' in json) {
    const version = (json as { schemaVersion: unknown }).schemaVersion;
    if (version !== FLOW_RECORD_SCHEMA_VERSION) {
      throw new FlowRecordError(
        `unsupported schemaVersion ${JSON.stringify(version)}; this build reads version ${FLOW_RECORD_SCHEMA_VERSION}`,
      );
    }
  }
  // A lone surrogate (JSON's \ud800) is valid JSON and passes the schema, but no store or channel
  // can write it: the record failed every retry and blocked its shard (issue 20). Only a text with
  // a \u escape of a surrogate can hold one, so the walk runs only then.
  if (SURROGATE_ESCAPE.test(text)) {
    const where = loneSurrogateAt(json);
    if (where !== undefined)
      throw new FlowRecordError(
        `record failed schema v${FLOW_RECORD_SCHEMA_VERSION}: ${where || '(record)'}: text with a lone surrogate (not well-formed Unicode)`,
      );
  }
  const schema =
    typeof json === 'object' && json !== null && (json as { kind?: unknown }).kind === 'session-end'
      ? SessionEndRecordSchema
      : compiledFlowRecordSchema();
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(record)'}: ${issue.message}`)
      .join('; ');
    throw new FlowRecordError(`record failed schema v${FLOW_RECORD_SCHEMA_VERSION}: ${problems}`, {
      cause: result.error,
    });
  }
  return result.data;
}
