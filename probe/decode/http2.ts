import { HpackDecoder, HpackError } from './hpack.ts';
import { type BodyCoding, decompress, HTTP2_PREFACE, type HttpRequest } from './http1.ts';

/**
 * HTTP/2 requests from a client's byte stream (RFC 9113): the connection preface (§3.4), frames
 * (§4.1), HEADERS with CONTINUATION (§6.2, §6.10) decoded by HPACK in the order they were sent
 * (every block, so the dynamic table stays in step), DATA with padding (§6.1), per stream. Each
 * stream the client opened with a request becomes an HttpRequest like an HTTP/1.x one: method and
 * path from the pseudo-header fields (§8.3.1), `:authority` as the host, the body undone of its
 * Content-Encoding. Works for ALPN `h2` inside TLS and for cleartext prior knowledge (h2c).
 */

const FRAME = { data: 0, headers: 1, continuation: 9 } as const;
const FLAG = { endStream: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;
/** A frame longer than this is not one a client sends (SETTINGS_MAX_FRAME_SIZE is at most 2^24 − 1). */
const MAX_FRAME_LENGTH = 2 ** 24 - 1;
/** Streams followed per connection at most (the rest are counted, not decoded into requests). */
const MAX_STREAMS = 1000;
/** A request body is kept up to this many bytes (the client stream is bounded anyway). */
const MAX_BODY_BYTES = 1024 * 1024;

interface OpenStream {
  readonly id: number;
  fields: [string, string][];
  readonly body: Buffer[];
  bodyBytes: number;
  truncated: boolean;
  /** END_STREAM seen: the request is complete. */
  ended: boolean;
}

export interface ParsedHttp2 {
  readonly requests: HttpRequest[];
  /** Why decoding stopped early (a header block HPACK could not decode, a malformed frame), if it did. */
  readonly problem?: string;
  /** Bytes after the last whole frame (the capture or the kept-bytes limit cut the stream). */
  readonly unparsedBytes: number;
}

/** The requests of an HTTP/2 client stream that starts with the connection preface. */
export function parseHttp2Requests(stream: Buffer, maxRequests: number): ParsedHttp2 {
  const hpack = new HpackDecoder();
  const streams = new Map<number, OpenStream>();
  const order: OpenStream[] = [];
  let offset = HTTP2_PREFACE.length;
  let problem: string | undefined;
  /** A header block spread over HEADERS and CONTINUATION frames. */
  let pending: { stream: number; parts: Buffer[]; endStream: boolean } | undefined;

  const finishBlock = (streamId: number, block: Buffer, endStream: boolean) => {
    const { fields, truncated } = hpack.decode(block);
    let open = streams.get(streamId);
    if (!open) {
      if (order.length >= MAX_STREAMS) return;
      open = { id: streamId, fields, body: [], bodyBytes: 0, truncated, ended: false };
      streams.set(streamId, open);
      order.push(open);
    } else open.fields.push(...fields.filter(([name]) => !name.startsWith(':'))); // trailers (§8.1)
    if (endStream) open.ended = true;
  };

  while (offset + 9 <= stream.length) {
    const length = stream.readUIntBE(offset, 3);
    const type = stream[offset + 3]!;
    const flags = stream[offset + 4]!;
    const streamId = stream.readUInt32BE(offset + 5) & 0x7fffffff;
    if (length > MAX_FRAME_LENGTH) break;
    if (offset + 9 + length > stream.length) break; // cut
    const payload = stream.subarray(offset + 9, offset + 9 + length);
    offset += 9 + length;
    try {
      if (pending && type !== FRAME.continuation) {
        problem = 'a header block is interrupted by another frame (RFC 9113 §6.10)';
        break;
      }
      if (type === FRAME.headers) {
        if (streamId === 0) {
          problem = 'HEADERS on stream 0';
          break;
        }
        let at = 0;
        let end = payload.length;
        if (flags & FLAG.padded) {
          end -= payload[0] ?? 0;
          at = 1;
        }
        if (flags & FLAG.priority) at += 5;
        if (at > end) {
          problem = 'HEADERS padding longer than the frame';
          break;
        }
        const block = payload.subarray(at, end);
        if (flags & FLAG.endHeaders) finishBlock(streamId, block, (flags & FLAG.endStream) !== 0);
        else pending = { stream: streamId, parts: [block], endStream: (flags & FLAG.endStream) !== 0 };
      } else if (type === FRAME.continuation) {
        if (!pending || pending.stream !== streamId) {
          problem = 'CONTINUATION without a header block to continue';
          break;
        }
        pending.parts.push(payload);
        if (flags & FLAG.endHeaders) {
          finishBlock(streamId, Buffer.concat(pending.parts), pending.endStream);
          pending = undefined;
        }
      } else if (type === FRAME.data) {
        const open = streams.get(streamId);
        if (!open) continue;
        let at = 0;
        let end = payload.length;
        if (flags & FLAG.padded) {
          end -= payload[0] ?? 0;
          at = 1;
        }
        if (at > end) {
          problem = 'DATA padding longer than the frame';
          break;
        }
        if (flags & FLAG.endStream) open.ended = true;
        const data = payload.subarray(at, end);
        const room = MAX_BODY_BYTES - open.bodyBytes;
        if (data.length > room) open.truncated = true;
        if (room > 0) {
          open.body.push(data.subarray(0, room));
          open.bodyBytes += Math.min(room, data.length);
        }
      }
      // SETTINGS, PING, WINDOW_UPDATE, PRIORITY, RST_STREAM, GOAWAY, unknown types: nothing to read.
    } catch (error) {
      if (!(error instanceof HpackError)) throw error;
      // The dynamic table is now unknown: later blocks cannot be decoded either.
      problem = `HPACK: ${error.message}`;
      break;
    }
  }
  const cut = offset < stream.length || problem !== undefined;
  const requests: HttpRequest[] = [];
  for (const open of order) {
    if (requests.length >= maxRequests) break;
    const pseudo = (name: string) => open.fields.find(([key]) => key === name)?.[1];
    const method = pseudo(':method');
    if (!method) continue; // not a request (a stray block)
    const headers = open.fields.filter(([name]) => !name.startsWith(':'));
    const authority = pseudo(':authority');
    if (authority !== undefined && !headers.some(([name]) => name === 'host'))
      headers.unshift(['host', authority]);
    const raw = open.body.length === 1 ? open.body[0]! : Buffer.concat(open.body);
    const encoding = headers.find(([name]) => name === 'content-encoding')?.[1];
    const decoded = decompress(raw, encoding);
    const codings: BodyCoding[] = decoded.coding ? [decoded.coding] : [];
    requests.push({
      method,
      target: pseudo(':path') ?? '',
      version: 'HTTP/2',
      headers,
      body: decoded.body,
      // A stream the capture cut before its END_STREAM lost the rest of its body.
      bodyTruncated: open.truncated || decoded.truncated || (cut && !open.ended),
      ...(codings.length > 0 && decoded.body.length > 0 ? { bodyCodings: codings } : {}),
    });
  }
  return { requests, ...(problem ? { problem } : {}), unparsedBytes: stream.length - offset };
}
