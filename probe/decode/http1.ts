import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/**
 * HTTP/1.x requests from a reassembled client→server byte stream (RFC 9112):
 * request line (§3), header fields (§5), message body by Content-Length or chunked (§6, §7.1),
 * Content-Encoding gzip/deflate (RFC 9110 §8.4.1). Several requests on one connection are read in order.
 */
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']);
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
}

export function looksLikeHttpRequest(stream: Buffer): boolean {
  const space = stream.indexOf(0x20);
  return space > 0 && space <= 8 && METHODS.has(stream.toString('latin1', 0, space));
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

function decompress(body: Buffer, encoding: string | undefined): { body: Buffer; truncated: boolean } {
  const coding = encoding?.trim().toLowerCase();
  if (!coding || coding === 'identity' || body.length === 0) return { body, truncated: false };
  const options = { maxOutputLength: MAX_DECODED_BODY_BYTES };
  try {
    if (coding === 'gzip' || coding === 'x-gzip')
      return { body: gunzipSync(body, options), truncated: false };
    if (coding === 'deflate') {
      try {
        return { body: inflateSync(body, options), truncated: false };
      } catch {
        return { body: inflateRawSync(body, options), truncated: false };
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
    if (!looksLikeHttpRequest(rest)) break;
    const headerEnd = rest.indexOf('\r\n\r\n', 0, 'latin1');
    if (headerEnd < 0 || headerEnd > MAX_HEADER_BYTES) break;
    const lines = rest.toString('latin1', 0, headerEnd).split('\r\n');
    const [method, target, version] = lines[0]!.split(' ');
    if (!method || !target || !version?.startsWith('HTTP/1.')) break;
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    const lookup = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1];
    const bodyStart = headerEnd + 4;
    let body: Buffer;
    let consumed: number;
    let truncated = false;
    if (lookup('transfer-encoding')?.toLowerCase().includes('chunked')) {
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
    requests.push({
      method,
      target,
      version,
      headers,
      body: decoded.body,
      bodyTruncated: truncated || decoded.truncated,
    });
    offset += consumed;
  }
  return { requests, unparsedBytes: stream.length - offset };
}
