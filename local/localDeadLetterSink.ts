import { appendFile } from 'node:fs/promises';
import type { DeadLetter, DeadLetterSink } from '../core/ingest/deadLetter.ts';
import type { OnFailureRecord } from './kinesisEventSourcePoller.ts';

/** Local mode's dead-letter queue: one JSON object per line. */
export class LocalDeadLetterFile implements DeadLetterSink {
  count = 0;
  constructor(private readonly path: string) {}

  async send(letter: DeadLetter | OnFailureRecord): Promise<void> {
    this.count++;
    await appendFile(this.path, `${JSON.stringify(letter)}\n`);
  }
}
