import { CaptureFormatError } from '../errors.ts';

/**
 * The entries of a HAR document (`{"log": {"entries": [ … ]}}`), one at a time, from its bytes as
 * they are read: only the entry being read is held, so a HAR file of any size is read in bounded
 * memory (a 44 MB HAR ran the probe out of memory when the document was parsed whole, issue 20).
 * The structure is followed byte by byte (strings and their escapes, nesting); each entry's bytes
 * are then parsed with JSON.parse. An entry that is not valid JSON is returned as a `SyntaxError`
 * (the caller skips it with the reason); a document that is not JSON, or has no `log.entries`
 * array, throws `CaptureFormatError`.
 */
export async function* harEntries(
  chunks: AsyncIterable<Buffer>,
  source: string,
  /** Largest entry read (its bytes); larger ones are skipped as a SyntaxError naming the size. */
  maxEntryBytes = 64 * 1024 * 1024,
): AsyncGenerator<unknown> {
  // Containers from the root: '{' or '[' and, for objects, the key of the value being read.
  const stack: { kind: number; key: string }[] = [];
  let inString = false;
  let escaped = false;
  /** The bytes of the string being read, when it may be a key at depth 1 or 2 (cut at 64). */
  let stringBytes: number[] | undefined;
  let lastString = '';
  /** Depth of the entries array once found (3), else -1. */
  let entriesDepth = -1;
  let entriesSeen = false;
  let started = false;
  // The entry being captured: its parts and size; `entryStart` is where it starts in the chunk.
  let capturing = false;
  /** The entry being captured is a string (not an object): it ends with its closing quote. */
  let capturingString = false;
  /** The entry being captured is a number, true, false or null: it ends at a delimiter. */
  let capturingPrimitive = false;
  let entryParts: Buffer[] = [];
  let entryBytes = 0;
  let entryTooLarge = false;
  let position = 0;
  /** The document's first bytes: when it turns out not to be HAR, JSON.parse says why (if it was small). */
  const head: Buffer[] = [];
  let headBytes = 0;
  const HEAD_LIMIT = 1024 * 1024;
  const finishEntry = (): unknown => {
    const bytes = Buffer.concat(entryParts);
    entryParts = [];
    entryBytes = 0;
    if (entryTooLarge) {
      entryTooLarge = false;
      return new SyntaxError(`entry of more than ${maxEntryBytes} bytes`);
    }
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      return error as SyntaxError;
    }
  };
  const fail = (what: string): never => {
    // A small document that is not JSON at all: the parser's own message says where.
    if (headBytes <= HEAD_LIMIT && head.length > 0) {
      try {
        JSON.parse(
          Buffer.concat(head)
            .toString('utf8')
            .replace(/^\uFEFF/, ''),
        );
      } catch (error) {
        throw new CaptureFormatError(`${source}: not a HAR file: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    throw new CaptureFormatError(
      `${source}: not a HAR file: ${what} (expected { "log": { "entries": [...] } })`,
    );
  };
  for await (const chunk of chunks) {
    if (headBytes <= HEAD_LIMIT) {
      head.push(Buffer.from(chunk));
      headBytes += chunk.length;
    }
    const from = 0;
    let captureStart = capturing ? from : -1;
    for (let i = from; i < chunk.length; i++, position++) {
      const c = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) {
          inString = false;
          if (stringBytes) lastString = Buffer.from(stringBytes).toString('utf8');
          stringBytes = undefined;
          if (capturingString) {
            entryParts.push(chunk.subarray(captureStart, i + 1));
            capturing = false;
            capturingString = false;
            captureStart = -1;
            yield finishEntry();
          }
        } else if (stringBytes && stringBytes.length < 64) stringBytes.push(c);
        continue;
      }
      if (capturingPrimitive) {
        if (c !== 0x2c && c !== 0x5d && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) continue;
        entryParts.push(chunk.subarray(Math.max(0, captureStart), i));
        capturing = false;
        capturingPrimitive = false;
        captureStart = -1;
        yield finishEntry();
      }
      // A byte order mark before the document (in whatever chunks it comes).
      if (!started && position < 3 && (c === 0xef || c === 0xbb || c === 0xbf)) continue;
      switch (c) {
        case 0x22: // "
          inString = true;
          if (!capturing && entriesDepth > 0 && stack.length === entriesDepth) {
            capturing = true;
            capturingString = true;
            captureStart = i;
          } else if (!capturing && stack.length <= 2) stringBytes = [];
          break;
        case 0x3a: // ':' after a key
          if (!capturing && stack.length > 0) stack[stack.length - 1]!.key = lastString;
          break;
        case 0x7b: // {
        case 0x5b: {
          // [
          if (!started && c !== 0x7b) fail('the document is not a JSON object');
          started = true;
          if (!capturing && entriesDepth > 0 && stack.length === entriesDepth) {
            capturing = true;
            captureStart = i;
          }
          const parent = stack[stack.length - 1];
          stack.push({ kind: c, key: '' });
          if (
            c === 0x5b &&
            stack.length === 3 &&
            parent?.key === 'entries' &&
            stack[0]!.key === 'log' &&
            entriesDepth < 0
          ) {
            entriesDepth = 3;
            entriesSeen = true;
          }
          break;
        }
        case 0x7d: // }
        case 0x5d: {
          // ]
          const open = stack.pop();
          if (!open || (open.kind === 0x7b) !== (c === 0x7d))
            fail(`unbalanced ${String.fromCharCode(c)} at byte ${position}`);
          if (capturing && stack.length === entriesDepth) {
            entryParts.push(chunk.subarray(captureStart, i + 1));
            capturing = false;
            captureStart = -1;
            yield finishEntry();
          }
          if (stack.length === entriesDepth - 1 && entriesDepth > 0) entriesDepth = -2; // the array ended
          break;
        }
        default:
          if (!started && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)
            fail('the document is not a JSON object');
          // A value that is not an object, array or string in the entries array (a number, say): an entry of its own.
          if (
            !capturing &&
            entriesDepth > 0 &&
            stack.length === entriesDepth &&
            c !== 0x2c &&
            c !== 0x20 &&
            c !== 0x0a &&
            c !== 0x0d &&
            c !== 0x09
          ) {
            capturing = true;
            capturingPrimitive = true;
            captureStart = i;
          }
      }
      if (capturing && !entryTooLarge && entryBytes + (i - captureStart) > maxEntryBytes)
        entryTooLarge = true;
    }
    if (capturing) {
      if (!entryTooLarge) {
        const part = Buffer.from(chunk.subarray(Math.max(0, captureStart)));
        entryParts.push(part);
        entryBytes += part.length;
        if (entryBytes > maxEntryBytes) {
          entryTooLarge = true;
          entryParts = [];
        }
      }
    }
  }
  if (!started) fail('the file is empty');
  if (inString || stack.length > 0) fail('the document ends before it is complete');
  if (!entriesSeen) fail('log.entries: no such array');
}
