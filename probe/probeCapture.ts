import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { access, constants as fsConstants, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import type { LabContext } from '../schema/flowRecord.ts';
import { gunzipChunks } from './capture/openCapture.ts';
import { CaptureFormatError } from './errors.ts';
import { harEntries } from './har/harStream.ts';
import { harEntryRecord } from './har/readHar.ts';
import { type ProbeOutput, writeRecord } from './pipeline.ts';
import { ProgressBar, type TerminalStream } from './progressBar.ts';
import { type ProbeStats, runProbe } from './runProbe.ts';
import type { TlsKeyLog } from './tls/keyLog.ts';

/** Below this size a capture is read by one thread: starting workers costs more than they save. */
export const AUTO_THREADS_MIN_BYTES = 16 * 1024 * 1024;
/**
 * Threads used by default at most: each worker costs ~40 MB of RSS (its isolate, young generation
 * and heap headroom), and the probe stays within 256 MB with up to 4.
 */
export const AUTO_THREADS_MAX = 4;

/**
 * One capture through the probe, whatever it is: pcap or pcapng (gzip or not, a file or stdin) or a
 * HAR file (gzip or not, recognised by content). `leakwatch probe` and `leakwatch run` both read
 * their captures with this. Returns the line that says what was read.
 */
export async function probeCapture(
  capture: string,
  context: LabContext,
  write: ProbeOutput,
  io: {
    stdin?: NodeJS.ReadableStream;
    progress?: NodeJS.WritableStream;
    /** Flow-table threads ('auto': the cores up to 4, for files of AUTO_THREADS_MIN_BYTES or more). @default 1 */
    threads?: number | 'auto';
    /** TLS secrets from the lab's key logs (pcapng secrets blocks are added as they are read). */
    keyLog?: TlsKeyLog;
  } = {},
): Promise<string> {
  if (capture !== '-') {
    const head = fileHead(capture);
    if (looksLikeJson(head)) return probeHar(capture, readFileChunks(capture), context, write);
    if (isGzip(head) && looksLikeJson(gunzipPrefix(head)))
      return probeHar(capture, gunzipChunks(readFileChunks(capture), capture), context, write, ' (gzip)');
  }
  const input = capture === '-' ? (io.stdin as AsyncIterable<Buffer>) : readFileChunks(capture);
  const size = capture === '-' ? undefined : statSync(capture).size;
  const progress =
    size === undefined || !io.progress
      ? undefined
      : new ProgressBar(io.progress as TerminalStream, basename(capture), size);
  const threads =
    io.threads === 'auto'
      ? size !== undefined && size >= AUTO_THREADS_MIN_BYTES
        ? Math.min(availableParallelism(), AUTO_THREADS_MAX)
        : 1
      : (io.threads ?? 1);
  const stats = await runProbe(input, capture === '-' ? 'stdin' : basename(capture), context, write, {
    onProgress: (state) => progress?.update(state),
    threads,
    ...(io.keyLog ? { keyLog: io.keyLog } : {}),
  }).finally(() => progress?.finish());
  const skipped =
    stats.skipped.total > 0 ? `; skipped ${stats.skipped.total} packets (${stats.skipped.summary()})` : '';
  const tail =
    stats.truncatedTailBytes > 0 ? `; last record cut short (${stats.truncatedTailBytes} bytes ignored)` : '';
  const threadsNote = stats.threads > 1 ? ` (${stats.threads} threads)` : '';
  return `${capture}: ${stats.format}${stats.compressed ? ' (gzip)' : ''}, ${stats.packets} packets, ${stats.flows} flows${skipped}${tail}${threadsNote}${tlsNote(stats)}`;
}

const counts = (byReason: Partial<Record<string, number>>) =>
  Object.entries(byReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');

/**
 * What the run's key material opened, when it had any (given key logs or secrets blocks):
 * `; TLS flows without keys: 2 of 5, decrypted 3; records skipped: authentication-failed 1`.
 */
export function tlsNote(
  stats: Pick<ProbeStats, 'keyLog' | 'tls' | 'secretsBlocks' | 'otherSecretsBlocks'>,
): string {
  const blocks =
    stats.secretsBlocks > 0
      ? `; ${stats.secretsBlocks} TLS secrets block${stats.secretsBlocks === 1 ? '' : 's'} read (key material of the run: ${stats.keyLog.summary()})`
      : '';
  const other = `${blocks}${
    stats.otherSecretsBlocks > 0
      ? `; ${stats.otherSecretsBlocks} secrets blocks of a type other than TLS key logs ignored`
      : ''
  }`;
  const tls = stats.tls;
  if (!stats.keyLog.active || !tls) return other;
  const notDecrypted = counts(tls.failures);
  const skipped = counts(tls.skippedRecords);
  return `; TLS flows without keys: ${tls.withoutKeys} of ${tls.flows}, decrypted ${tls.decrypted}${notDecrypted ? `, with keys but not decrypted: ${notDecrypted}` : ''}${skipped ? `; records skipped: ${skipped}` : ''}${other}`;
}

/**
 * A HAR file read entry by entry as its bytes come (bounded memory whatever its size): each entry
 * becomes a record, written before the next is read.
 */
async function probeHar(
  capture: string,
  chunks: AsyncIterable<Buffer>,
  context: LabContext,
  write: ProbeOutput,
  compressed = '',
): Promise<string> {
  const source = basename(capture);
  let entries = 0;
  let records = 0;
  const skipped: string[] = [];
  let skippedCount = 0;
  for await (const raw of harEntries(chunks, source)) {
    const result = harEntryRecord(raw, entries++, source, context);
    if ('skipped' in result) {
      if (skippedCount++ < 5) skipped.push(result.skipped);
      continue;
    }
    await writeRecord(write, result.record);
    records++;
  }
  const skippedNote =
    skippedCount > 0
      ? `; skipped ${skippedCount}: ${skipped.join('; ')}${skippedCount > 5 ? '; …' : ''}`
      : '';
  return `${capture}: HAR${compressed}, ${entries} entries, ${records} flow records${skippedNote}`;
}

/** A capture that is missing, unreadable or a directory: CaptureFormatError saying which. */
export async function checkCaptureReadable(path: string): Promise<void> {
  try {
    await access(path, fsConstants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    throw new CaptureFormatError(`cannot read capture ${path}: ${why}`, { cause: error });
  }
  if ((await stat(path)).isDirectory())
    throw new CaptureFormatError(`cannot read capture ${path}: it is a directory`);
}

/** The first bytes of a file (enough to tell its format). */
function fileHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** A HAR file is JSON: its first non-blank character (after an optional BOM) is `{`. */
const looksLikeJson = (head: Buffer) => /^(\uFEFF)?\s*\{/.test(head.toString('utf8', 0, 64));
const isGzip = (head: Buffer) => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
/** What the start of a gzip stream decompresses to (a prefix: the rest of the file is not read). */
function gunzipPrefix(head: Buffer): Buffer {
  try {
    return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Reads a file with synchronous reads into one reused buffer: no thread-pool round trip and no
 * allocation per chunk. Safe because everything downstream copies the bytes it keeps.
 */
export async function* readFileChunks(path: string, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(chunkSize);
  try {
    while (true) {
      const n = readSync(fd, buffer, 0, chunkSize, null);
      if (n === 0) return;
      yield buffer.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
