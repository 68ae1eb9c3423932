import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlertStore } from './alertStore.ts';
import { BuildStore } from './buildStore.ts';
import { OutboxStore } from './outboxStore.ts';

export type {
  BuildSummary,
  LineBuild,
  ObservationFields,
  ObservationItem,
  ObservationUpdate,
} from './buildStore.ts';
export type { NotificationEvent, StoredNotification } from './outboxStore.ts';

/**
 * leakwatch's single table, by what it keeps: lines, builds, observations and probe runs
 * (`builds`), alerts (`alerts`) and the notifications to deliver (`outbox`). Ingest's counting
 * writes (aggregate items with per-shard watermarks, flow-id chunks) are core/store/watermark.ts
 * and core/ingest/flowIdChunks.ts.
 */
export class LeakwatchStore {
  readonly builds: BuildStore;
  readonly outbox: OutboxStore;
  readonly alerts: AlertStore;

  constructor(
    readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {
    this.builds = new BuildStore(client, tableName);
    this.outbox = new OutboxStore(client, tableName);
    this.alerts = new AlertStore(client, tableName, this.outbox);
  }
}
