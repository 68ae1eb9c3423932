import { appendFile, readFile } from 'node:fs/promises';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import type { NotificationChannel } from '../core/notify/channels.ts';
import { formatIncident, type IncidentMessage } from '../core/notify/incident.ts';
import type { LeakwatchStore } from '../core/store/leakwatchStore.ts';
import type { NotifyHandler } from '../lambdas/notify/createNotifyHandler.ts';

/**
 * Local mode's stand-in for SNS (which has no local emulator here): each message goes to the
 * console and is appended to the outbox file (JSONL: notification, subject, message, attributes,
 * the alert events it tells about and their alerts). Exactly once per alert event: a process killed
 * after appending but before the store recorded the send finds the events in the file when it
 * retries, and only records them.
 */
export class ConsoleOutboxChannel implements NotificationChannel {
  readonly name = 'sns';
  /** It reads its file back before appending: no attempt is recorded before it sends. */
  readonly deduplicates = true;
  /** The messages this channel wrote in this process. */
  readonly delivered: IncidentMessage[] = [];
  private written: Promise<Map<string, Set<string>>> | undefined;
  private separator = '';
  constructor(
    private readonly outboxPath: string,
    private readonly print: (text: string) => void = console.log,
  ) {}

  /** Per notification, the alert events already in the outbox file (read once, then kept up to date). */
  private inOutbox(): Promise<Map<string, Set<string>>> {
    this.written ??= readFile(this.outboxPath, 'utf8').then(
      (text) => {
        // A line cut short by a crash is ended before the next one is appended.
        this.separator = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
        const written = new Map<string, Set<string>>();
        for (const line of text.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const { notificationId, events } = JSON.parse(line) as {
              notificationId: string;
              events?: string[];
            };
            const set = written.get(notificationId) ?? new Set<string>();
            for (const id of events ?? []) set.add(id);
            written.set(notificationId, set);
          } catch {
            // a line cut short by a crash: its events are delivered again
          }
        }
        return written;
      },
      () => new Map<string, Set<string>>(),
    );
    return this.written;
  }

  async deliver(message: IncidentMessage): Promise<undefined> {
    const written = await this.inOutbox();
    const n = message.notification;
    const inFile = written.get(n.notificationId) ?? new Set<string>();
    const events = message.events.filter((e) => !inFile.has(e.eventId));
    if (events.length === 0) return undefined;
    const toTell = { ...message, events };
    const { subject, headline, text, attributes } = formatIncident(toTell);
    await appendFile(
      this.outboxPath,
      `${this.separator}${JSON.stringify({
        notificationId: n.notificationId,
        incidentId: n.incidentId,
        event: n.event,
        build: n.build,
        subject,
        message: text,
        attributes,
        events: events.map((e) => e.eventId),
        alerts: events.map((e) => e.alert),
      })}\n`,
    );
    this.separator = '';
    for (const e of events) inFile.add(e.eventId);
    written.set(n.notificationId, inFile);
    // The whole message for what opens (or reopens) an incident; a resolution in one line (the
    // outbox file has all). The headline once, uncut.
    const severity = String(attributes.severity).toUpperCase();
    this.print(
      n.event === 'resolved'
        ? `  RESOLVED ${headline}`
        : `\n  ALERT ${severity} ${headline}\n${text
            .split('\n')
            .slice(2)
            .join('\n')
            .replace(/^(?=.)/gm, '    ')}`,
    );
    this.delivered.push(toTell);
    return undefined;
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
 * notification to the same notify handler the Lambda runs, as the INSERT record of one of its alert
 * events, and retries failures with backoff, as the event source would.
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
    // One alert event per pending notification, as the stream would bring its newest event.
    const records: DynamoDBRecord[] = pending.map((n, i) => ({
      eventID: `${attempt}-${i}`,
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      dynamodb: {
        Keys: marshall({ pk: 'OUTBOX', sk: `EVENT#${[...n.members][0]}` }) as never,
        NewImage: marshall(
          { type: 'alert-event', eventId: [...n.members][0], notificationId: n.notificationId },
          { removeUndefinedValues: true },
        ) as never,
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
