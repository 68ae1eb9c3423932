import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import {
  type DigestEntry,
  KnownValueIndex,
  mergedSummary,
  type RegisteredValue,
  registration,
} from './knownValues.ts';

/**
 * The device registry in the history table (on AWS): per device, one `DEVICE` item (counts, plain
 * lengths, when) and one `DIGEST#<digest>` item per digest. Digests only; the key stays in Secrets
 * Manager. Items: pk `REGISTRY#<device id>`.
 */
const pk = (deviceId: string) => `REGISTRY#${encodeURIComponent(deviceId)}`;

export class DynamoRegistry {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly key: Buffer,
  ) {}

  /** Adds values to a device's registration (earlier values stay). */
  async register(
    deviceId: string,
    values: readonly RegisteredValue[],
    now: Date,
  ): Promise<{ counts: Record<string, number>; digests: number }> {
    const previous = (
      await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: pk(deviceId), sk: 'DEVICE' } }),
      )
    ).Item;
    const added = registration(this.key, values);
    const summary = mergedSummary(previous as Parameters<typeof mergedSummary>[0], values, added);
    const items = [
      {
        pk: pk(deviceId),
        sk: 'DEVICE',
        type: 'registration',
        deviceId,
        ...summary,
        registeredAt: now.toISOString(),
      },
      ...[...added.digests].map(([digest, entry]) => ({
        pk: pk(deviceId),
        sk: `DIGEST#${digest}`,
        type: 'registration-digest',
        ...entry,
      })),
    ];
    // BatchWriteItem takes 25 items; unprocessed items are sent again.
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 8)
          throw new Error(
            `registry write for ${deviceId}: ${requests.length} items still unprocessed after 8 retries`,
          );
        const result = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
        );
        requests = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
        if (requests.length > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
    return { counts: summary.counts, digests: added.digests.size };
  }

  /** The device's registered digests as an index, or undefined when it was never registered. */
  async load(deviceId: string): Promise<KnownValueIndex | undefined> {
    const entries = new Map<string, DigestEntry>();
    let plainLengths: number[] = [];
    let fingerprints: number[] | undefined;
    let found = false;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk(deviceId) },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        found = true;
        if (item.sk === 'DEVICE') {
          plainLengths = (item.plainLengths as number[]) ?? [];
          fingerprints = item.fingerprints as number[] | undefined;
        } else if (typeof item.sk === 'string' && item.sk.startsWith('DIGEST#')) {
          entries.set(item.sk.slice(7), {
            dataType: item.dataType,
            form: item.form,
            canary: item.canary === true,
            valueDigest: item.valueDigest,
          });
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return found ? new KnownValueIndex(this.key, entries, plainLengths, fingerprints) : undefined;
  }
}

/**
 * Per-device registrations for the ingest function, loaded on first use and refreshed after
 * `maxAgeMs`, so a registration made while the function runs is picked up within minutes.
 */
export class RegistryCache {
  private readonly devices = new Map<string, { index: KnownValueIndex | undefined; loadedAt: number }>();

  constructor(
    private readonly registry: Pick<DynamoRegistry, 'load'>,
    private readonly maxAgeMs = 5 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(deviceId: string): Promise<KnownValueIndex | undefined> {
    const cached = this.devices.get(deviceId);
    if (cached && this.now() - cached.loadedAt < this.maxAgeMs) return cached.index;
    const index = await this.registry.load(deviceId);
    this.devices.set(deviceId, { index, loadedAt: this.now() });
    return index;
  }
}
