import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/**
 * HTTP/1.x requests from a reassembled client→server byte stream (RFC 9112):
 * request line (§3), header fields (§5), message body by Content-Length or chunked (§6, §7.1),
 * Content-Encoding gzip/deflate (RFC 9110 §8.4.1). Several requests on one connection are read in order.
 */
/**
 * Request line (RFC 9112 §3): method token, target, version. Like Zeek, any method token is
 * accepted (`CCM_POST`), a malformed version is kept (`HTTP/1.`), a missing version is HTTP/0.9
 * (`GET /HTTP/1.1`), a missing target is empty; the method must be followed by a space (`GET/` is not a request);
 * but without an HTTP version the target must look like one (`/…`, `*`, `http…`), so SMTP, IMAP or
 * SIP text is not taken for HTTP.
 */
const REQUEST_LINE = /^([A-Z][A-Z0-9_-]{1,23}) (\S*)(?: (HTTP\/[\d.]*))?\r?$/;
const LINE_END = /\r?\n/;

function parseRequestLine(line: string): { method: string; target: string; version: string } | null {
  const match = REQUEST_LINE.exec(line);
  if (!match) return null;
  let [, method, target, version] = match as unknown as [string, string, string, string | undefined];
  if (!version && /^HTTP\/[\d.]+$/.test(target)) {
    version = target;
    target = '';
  }
  if (!version && !/^(\/|\*|https?:)/i.test(target)) return null;
  return { method, target, version: version ?? 'HTTP/0.9' };
}

/** What an HTTP/2 client sends first (RFC 9113 §3.4); HTTP/1 parsing stops there (h2c upgrade, prior knowledge). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Whether the stream starts with (as much as it holds of, at least 16 bytes) the HTTP/2 preface. */
export function startsWithHttp2Preface(stream: Buffer): boolean {
  const n = Math.min(stream.length, HTTP2_PREFACE.length);
  return n >= 16 && stream.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
}

/** Decompressed bodies are cut at this size (a decompression bomb costs bounded work). */
export const MAX_DECODED_BODY_BYTES = 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;

export interface HttpRequest {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  /** The body was cut (stream gap, or decompression limit). */
  readonly bodyTruncated: boolean;
  /** The codings undone to get `body`, in the order they were undone (`chunked`, then `gzip`). */
  readonly bodyCodings?: readonly BodyCoding[];
}

/** What the probe undoes in an HTTP/1.x body: the chunked transfer coding, then a content coding. */
export type BodyCoding = 'chunked' | 'gzip' | 'deflate';

export function looksLikeHttpRequest(stream: Buffer): boolean {
  const newline = stream.indexOf(0x0a);
  const line = stream.toString('latin1', 0, newline < 0 ? Math.min(stream.length, 8192) : newline);
  return parseRequestLine(line) !== null;
}

export function headerValue(request: HttpRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  return request.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

function decodeChunked(data: Buffer): { body: Buffer; consumed: number; complete: boolean } {
  const parts: Buffer[] = [];
  let offset = 0;
  while (true) {
    const lineEnd = data.indexOf('\r\n', offset, 'latin1');
    if (lineEnd < 0) return { body: Buffer.concat(parts), consumed: data.length, complete: false };
    const size = Number.parseInt(data.toString('latin1', offset, lineEnd).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0)
      return { body: Buffer.concat(parts), consumed: data.length, complete: false };
    offset = lineEnd + 2;
    if (size === 0) {
      // Trailer section ends with an empty line (RFC 9112 §7.1.2).
      const end = data.indexOf('\r\n', offset, 'latin1');
      return { body: Buffer.concat(parts), consumed: end < 0 ? data.length : end + 2, complete: true };
    }
    parts.push(data.subarray(offset, Math.min(data.length, offset + size)));
    if (offset + size > data.length)
      return { body: Buffer.concat(parts), consumed: data.length, complete: false };
    offset += size + 2;
  }
}

/** Undoes a Content-Encoding (gzip, deflate), bounded by MAX_DECODED_BODY_BYTES. */
export function decompress(
  body: Buffer,
  encoding: string | undefined,
): { body: Buffer; truncated: boolean; coding?: BodyCoding } {
  const coding = encoding?.trim().toLowerCase();
  if (!coding || coding === 'identity' || body.length === 0) return { body, truncated: false };
  const options = { maxOutputLength: MAX_DECODED_BODY_BYTES };
  try {
    if (coding === 'gzip' || coding === 'x-gzip')
      return { body: gunzipSync(body, options), truncated: false, coding: 'gzip' };
    if (coding === 'deflate') {
      try {
        return { body: inflateSync(body, options), truncated: false, coding: 'deflate' };
      } catch {
        return { body: inflateRawSync(body, options), truncated: false, coding: 'deflate' };
      }
    }
  } catch {
    // Corrupt or over-limit compressed body: keep the raw bytes, flag the cut.
    return { body, truncated: true };
  }
  return { body, truncated: false };
}

export interface ParsedRequests {
  readonly requests: HttpRequest[];
  /** Bytes after the last request that could be parsed (gap, garbage or a cut request). */
  readonly unparsedBytes: number;
}

/** Parses requests from the start of the stream until it ends or stops looking like HTTP. */
export function parseHttpRequests(stream: Buffer, maxRequests: number): ParsedRequests {
  const requests: HttpRequest[] = [];
  let offset = 0;
  while (offset < stream.length && requests.length < maxRequests) {
    const rest = stream.subarray(offset);
    if (!looksLikeHttpRequest(rest) || startsWithHttp2Preface(rest)) break;
    // The header section ends at an empty line; bare LF line ends are accepted (RFC 9112 §2.2).
    const crlf = rest.indexOf('\r\n\r\n', 0, 'latin1');
    const lf = rest.indexOf('\n\n', 0, 'latin1');
    let headerEnd: number;
    let separator: number;
    if (crlf >= 0 && (lf < 0 || crlf < lf)) {
      headerEnd = crlf;
      separator = 4;
    } else if (lf >= 0) {
      headerEnd = lf;
      separator = 2;
    } else {
      // A request whose header section the stream cut off (capture ended, gap) is still described.
      headerEnd = Math.min(rest.length, MAX_HEADER_BYTES);
      separator = 0;
    }
    const cutOff = separator === 0;
    if (headerEnd > MAX_HEADER_BYTES) break;
    const lines = rest
      .toString('latin1', 0, headerEnd)
      .replace(/\r?\n$/, '')
      .split(LINE_END);
    const requestLine = parseRequestLine(lines[0]!);
    if (!requestLine) break;
    const { method, target, version } = requestLine;
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    const lookup = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1];
    if (cutOff) {
      requests.push({ method, target, version, headers, body: Buffer.alloc(0), bodyTruncated: true });
      offset = stream.length;
      break;
    }
    const bodyStart = headerEnd + separator;
    let body: Buffer;
    let consumed: number;
    let truncated = false;
    const codings: BodyCoding[] = [];
    if (lookup('transfer-encoding')?.toLowerCase().includes('chunked')) {
      codings.push('chunked');
      const chunked = decodeChunked(rest.subarray(bodyStart));
      body = chunked.body;
      consumed = bodyStart + chunked.consumed;
      truncated = !chunked.complete;
    } else {
      const length = Number.parseInt(lookup('content-length') ?? '0', 10);
      const declared = Number.isFinite(length) && length > 0 ? length : 0;
      body = rest.subarray(bodyStart, Math.min(rest.length, bodyStart + declared));
      truncated = body.length < declared;
      consumed = bodyStart + body.length;
    }
    const decoded = decompress(body, lookup('content-encoding'));
    if (decoded.coding) codings.push(decoded.coding);
    requests.push({
      method,
      target,
      version,
      headers,
      body: decoded.body,
      bodyTruncated: truncated || decoded.truncated,
      ...(codings.length > 0 && decoded.body.length > 0 ? { bodyCodings: codings } : {}),
    });
    offset += consumed;
  }
  return { requests, unparsedBytes: stream.length - offset };
}
