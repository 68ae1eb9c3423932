import { appendFile, readFile } from 'node:fs/promises';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import { formatAlert } from '../core/alerts/formatAlert.ts';
import type { NotificationChannel } from '../core/notify/channels.ts';
import type { LeakwatchStore, StoredNotification } from '../core/store/leakwatchStore.ts';
import type { NotifyHandler } from '../lambdas/notify/createNotifyHandler.ts';

/**
 * Local mode's stand-in for SNS (which has no local emulator here): the notification goes to the
 * console and is appended to the outbox file (JSONL: subject, message, attributes, alert).
 * Exactly once per notification: a process killed after appending but before the store marked the
 * channel delivered finds the notification in the file when it retries, and only marks it.
 */
export class ConsoleOutboxChannel implements NotificationChannel {
  readonly name = 'sns';
  readonly delivered: StoredNotification[] = [];
  private written: Promise<Set<string>> | undefined;
  private separator = '';
  constructor(
    private readonly outboxPath: string,
    private readonly print: (text: string) => void = console.log,
  ) {}

  /** The notification ids already in the outbox file (read once, then kept up to date). */
  private inOutbox(): Promise<Set<string>> {
    this.written ??= readFile(this.outboxPath, 'utf8').then(
      (text) => {
        // A line cut short by a crash is ended before the next one is appended.
        this.separator = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
        return new Set(
          text
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .flatMap((line) => {
              try {
                return [String(JSON.parse(line).notificationId)];
              } catch {
                return []; // a line cut short by a crash: its notification is delivered again
              }
            }),
        );
      },
      () => new Set<string>(),
    );
    return this.written;
  }

  async deliver(n: StoredNotification): Promise<void> {
    const written = await this.inOutbox();
    if (written.has(n.notificationId)) return;
    const { subject, text, attributes } = formatAlert(n.alert, n.event, n.build);
    await appendFile(
      this.outboxPath,
      `${this.separator}${JSON.stringify({ notificationId: n.notificationId, subject, message: text, attributes, alert: n.alert })}\n`,
    );
    this.separator = '';
    written.add(n.notificationId);
    // The full message for a new alert; follow-ups (resolved, reopened) in one line (the outbox has all).
    this.print(
      n.event === 'opened'
        ? `\n  ALERT ${subject}\n${text.replace(/^/gm, '    ')}`
        : `  ${n.event.toUpperCase()} ${subject}`,
    );
    this.delivered.push(n);
  }
}

export interface OutboxDrainStats {
  readonly delivered: number;
  /** Still undelivered after every attempt of this run (kept; a later run tries again). */
  readonly pending: number;
  readonly attempts: number;
}

/**
 * Stands in for the table's stream (dynalite has no DynamoDB Streams): hands every undelivered
 * notification to the same notify handler the Lambda runs, as stream INSERT records, and retries
 * failures with backoff, as the event source would.
 */
export async function drainOutbox(
  store: LeakwatchStore,
  handler: NotifyHandler,
  options: { maxAttempts?: number; backoffMs?: number; warn?: (text: string) => void } = {},
): Promise<OutboxDrainStats> {
  const maxAttempts = options.maxAttempts ?? 4;
  let delivered = 0;
  let attempts = 0;
  let pending = await store.outbox.pendingNotifications();
  for (let attempt = 1; attempt <= maxAttempts && pending.length > 0; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, (options.backoffMs ?? 200) * 2 ** (attempt - 2)));
    attempts++;
    const records: DynamoDBRecord[] = pending.map((n, i) => ({
      eventID: `${attempt}-${i}`,
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      dynamodb: {
        Keys: marshall({ pk: 'OUTBOX', sk: `NOTE#${n.notificationId}` }) as never,
        NewImage: marshall(n, { removeUndefinedValues: true, convertClassInstanceToMap: true }) as never,
        SequenceNumber: String(i + 1),
        StreamViewType: 'NEW_IMAGE',
      },
    }));
    let failed: number;
    try {
      const response = await handler({ Records: records }, {} as Context);
      failed = response.batchItemFailures.length;
    } catch {
      // Every record failed (the batch processor throws then; Lambda would retry the whole batch).
      failed = records.length;
    }
    delivered += records.length - failed;
    pending = await store.outbox.pendingNotifications();
    if (pending.length > 0 && attempt === maxAttempts) {
      options.warn?.(
        `  ${pending.length} notification(s) not delivered yet (${pending[0]?.lastError ?? 'unknown error'}); kept in the outbox, the next run retries`,
      );
    }
  }
  return { delivered, pending: pending.length, attempts };
}
