import { createHash } from 'node:crypto';
import { appendFile, chmod, open } from 'node:fs/promises';
import { mask } from '../core/classify/mask.ts';
import type { DeadLetter, DeadLetterSink } from '../core/ingest/deadLetter.ts';
import type { OnFailureRecord } from './kinesisEventSourcePoller.ts';

/**
 * Local mode's dead-letter queue: one JSON object per line, in a file only its owner can read
 * (0600). Unlike the SQS queue on AWS, the file sits in the lab's data directory, so it keeps no raw
 * record: the record's identifiers, its candidates masked (`8651•••••••8905`) with the SHA-256 of
 * each value, and the size and SHA-256 of the whole record. The raw record stays on the stream for
 * replay (its sequence number and partition key are kept), as on AWS.
 */
export class LocalDeadLetterFile implements DeadLetterSink {
  count = 0;
  private created = false;
  constructor(private readonly path: string) {}

  async send(letter: DeadLetter | OnFailureRecord): Promise<void> {
    this.count++;
    if (!this.created) {
      // Made 0600 before anything is written to it (an older file is tightened too).
      await (await open(this.path, 'a', 0o600)).close();
      await chmod(this.path, 0o600);
      this.created = true;
    }
    await appendFile(this.path, `${JSON.stringify('data' in letter ? redact(letter) : letter)}\n`);
  }
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A dead letter without its raw record: what identifies it, and its candidates masked. */
export function redact(letter: DeadLetter): Omit<DeadLetter, 'data'> & Record<string, unknown> {
  const { data, ...rest } = letter;
  const raw = Buffer.from(data, 'base64');
  return { ...rest, dataBytes: raw.length, dataSha256: sha256(raw), record: summary(raw) };
}

/** The parts of a record that say whose and which it is, and what it carried, masked. */
function summary(raw: Buffer): Record<string, unknown> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const record = json as Record<string, unknown>;
  const pick = (value: unknown, keys: string[]) =>
    typeof value === 'object' && value !== null
      ? Object.fromEntries(
          keys
            .filter((key) => typeof (value as Record<string, unknown>)[key] === 'string')
            .map((key) => [key, String((value as Record<string, unknown>)[key]).slice(0, 256)]),
        )
      : undefined;
  const candidates = Array.isArray(record.candidates) ? record.candidates : [];
  return {
    ...(record.kind === 'session-end' ? { kind: 'session-end' } : {}),
    device: pick(record.device, ['id', 'vendor', 'model']),
    firmware: pick(record.firmware, ['line', 'build']),
    session: pick(record.session, ['id']),
    flow: pick(record.flow, ['id']),
    candidates: candidates.slice(0, 256).map((candidate: unknown) => {
      const c = (typeof candidate === 'object' && candidate !== null ? candidate : {}) as Record<
        string,
        unknown
      >;
      const value = typeof c.value === 'string' ? c.value : '';
      return {
        location: typeof c.location === 'string' ? c.location.slice(0, 32) : undefined,
        key: typeof c.key === 'string' ? c.key.slice(0, 128) : undefined,
        masked: mask(value),
        sha256: sha256(value),
      };
    }),
  };
}
