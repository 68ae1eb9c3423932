import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CaptureFormatError } from '../errors.ts';
import type { CaptureParser, PacketCallback } from './capturedPacket.ts';
import { ClassicPcapParser, PCAP_MAGIC } from './classicPcap.ts';
import { BLOCK, PcapngParser } from './pcapng.ts';

const GZIP_MAGIC = [0x1f, 0x8b] as const;

export interface CaptureReadResult {
  readonly format: 'pcap' | 'pcapng';
  readonly compressed: boolean;
  readonly truncatedTailBytes: number;
  /** Bytes of the input as read (compressed size for gzip input). */
  readonly bytesRead: number;
}

function parserFor(first: Buffer, source: string): CaptureParser {
  const big = first.readUInt32BE(0);
  const little = first.readUInt32LE(0);
  if (big === BLOCK.sectionHeader) return new PcapngParser(source);
  const magics: number[] = [PCAP_MAGIC.microseconds, PCAP_MAGIC.nanoseconds];
  if (magics.includes(big) || magics.includes(little)) return new ClassicPcapParser(source);
  throw new CaptureFormatError(
    `${source}: not a capture file: magic number 0x${big.toString(16).padStart(8, '0')} at offset 0 is neither pcap (a1b2c3d4, a1b23c4d, either byte order) nor pcapng (0a0d0d0a)`,
  );
}

/**
 * The decompressed bytes of a gzip stream, as they come; a corrupt stream is a CaptureFormatError
 * naming `source`. Captures and HAR files both come through here.
 */
export async function* gunzipChunks(input: AsyncIterable<Buffer>, source: string): AsyncGenerator<Buffer> {
  // The gunzip stream reads ahead, and a reader may reuse its buffer for the next chunk: copy.
  const copies = (async function* () {
    for await (const chunk of input) yield Buffer.from(chunk);
  })();
  const gunzip = Readable.from(copies).pipe(createGunzip());
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    throw new CaptureFormatError(`${source}: gzip stream is corrupt: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Reads a pcap or pcapng capture, gzip-compressed or not, from a byte stream (whose chunks may be
 * reused by the producer once the next one is requested), calling `onPacket`
 * for every packet; `afterChunk` runs between chunks (where asynchronous work such as sending
 * records happens, so memory stays bounded by one chunk).
 */
export interface CaptureHandlers {
  readonly onPacket: PacketCallback;
  /** Runs between chunks; asynchronous work (sending records) happens here. */
  readonly afterChunk: () => Promise<void>;
  /** Bytes of input read so far. */
  readonly onProgress?: (bytesRead: number) => void;
  /** Called once the file format is known, before the first packet. */
  readonly onFormat?: (format: 'pcap' | 'pcapng') => void;
  /** A pcapng Decryption Secrets Block (its secrets type and data), in capture order. */
  readonly onSecrets?: PcapngParser['onSecrets'];
}

export async function readCapture(
  input: AsyncIterable<Buffer>,
  source: string,
  handlers: CaptureHandlers,
): Promise<CaptureReadResult> {
  const { onPacket, afterChunk, onProgress } = handlers;
  let bytesRead = 0;
  const counted = (async function* () {
    for await (const chunk of input) {
      bytesRead += chunk.length;
      onProgress?.(bytesRead);
      yield chunk;
    }
  })();
  const iterator = counted[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 4) {
    const next = await iterator.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  if (head.length < 4) {
    throw new CaptureFormatError(
      `${source}: not a capture file: ${head.length} bytes, too short for a file header`,
    );
  }
  const compressed = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const rest = (async function* () {
    yield head;
    while (true) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  let chunks: AsyncIterable<Buffer> = rest;
  if (compressed) chunks = gunzipChunks(rest, source);
  let parser: CaptureParser | undefined;
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    if (!parser) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (pending.length < 4) continue;
      parser = parserFor(pending, source);
      handlers.onFormat?.(parser.format);
      if (parser instanceof PcapngParser && handlers.onSecrets) parser.onSecrets = handlers.onSecrets;
      parser.push(pending, onPacket);
    } else {
      parser.push(chunk, onPacket);
    }
    await afterChunk();
  }
  if (!parser) {
    throw new CaptureFormatError(
      `${source}: not a capture file: ${pending.length} bytes after decompression`,
    );
  }
  const { truncatedTailBytes } = parser.finish();
  return { format: parser.format, compressed, truncatedTailBytes, bytesRead };
}
