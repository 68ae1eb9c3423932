import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * dynalite implements DynamoDB's item API but not TransactWriteItems (architect/dynalite#151).
 * This loopback proxy adds it for local mode: the transaction's writes are applied one by one with
 * their conditions while requests touching its items wait (ItemLocks), and if one condition fails
 * the writes already applied are undone from the old items their writes returned, then
 * TransactionCanceledException is returned with CancellationReasons, as DynamoDB does. Put, Update
 * and Delete are supported; ConditionCheck is not.
 * Atomic against the emulator's other clients, which all come through this proxy; not crash-safe
 * (the emulator is a development stand-in, not a database).
 */
const TARGET_PREFIX = 'DynamoDB_20120810.';
type AttributeMap = Record<string, unknown>;
interface Reply {
  status: number;
  body: string;
}

/**
 * Who may run now. A transaction holds its items' keys: requests on one of those items wait for it,
 * and it waits for those already in flight on them (its undo must not overwrite their writes).
 * Requests spanning items (Query, Scan, batch and table operations) run when no transaction does,
 * and transactions wait while one of those runs or waits, so no reader sees a write that is then
 * undone. Transactions on different items run at the same time, as single-item requests do.
 */
class ItemLocks {
  private readonly held = new Set<string>();
  private readonly inFlight = new Map<string, number>();
  private transactions = 0;
  private spanning = 0;
  private waiters: (() => void)[] = [];

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resume of waiters) resume();
  }

  async transaction<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    await this.until(
      () => this.spanning === 0 && keys.every((key) => !this.held.has(key) && !this.inFlight.has(key)),
    );
    for (const key of keys) this.held.add(key);
    this.transactions++;
    try {
      return await work();
    } finally {
      for (const key of keys) this.held.delete(key);
      this.transactions--;
      this.wake();
    }
  }

  async item<T>(key: string, work: () => Promise<T>): Promise<T> {
    await this.until(() => !this.held.has(key));
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = this.inFlight.get(key)! - 1;
      if (left === 0) this.inFlight.delete(key);
      else this.inFlight.set(key, left);
      this.wake();
    }
  }

  async spanningItems<T>(work: () => Promise<T>): Promise<T> {
    this.spanning++;
    try {
      await this.until(() => this.transactions === 0);
      return await work();
    } finally {
      this.spanning--;
      this.wake();
    }
  }
}

interface PlannedWrite {
  readonly action: string;
  readonly params: Record<string, unknown>;
  readonly table: string;
  readonly key: AttributeMap;
  readonly lock: string;
}

const SINGLE_ITEM = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);

export class DynamoTransactionShim {
  private server: Server | undefined;
  private readonly locks = new ItemLocks();
  private readonly keySchemas = new Map<string, string[]>();

  constructor(private readonly upstreamPort: number) {}

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const target = String(req.headers['x-amz-target'] ?? '');
        this.dispatch(
          target.slice(TARGET_PREFIX.length),
          req.method ?? 'POST',
          req.url ?? '/',
          req.headers,
          body,
        ).then(
          (reply) => {
            res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(reply.body);
          },
          (error: Error) => {
            res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(
              JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
                message: error.message,
              }),
            );
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async dispatch(
    action: string,
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    body: string,
  ): Promise<Reply> {
    if (action === 'TransactWriteItems') return this.transactWrite(body, headers);
    const forward = () => this.forward(method, path, headers, body);
    if (SINGLE_ITEM.has(action)) {
      const item = await this.itemOf(JSON.parse(body), headers).catch(() => undefined);
      if (item) return this.locks.item(item.lock, forward);
    }
    return this.locks.spanningItems(forward);
  }

  /** The item a request or transaction step is about: its table, key, and the key as a lock name. */
  private async itemOf(
    params: Record<string, unknown>,
    headers: IncomingHttpHeaders,
  ): Promise<{ table: string; key: AttributeMap; lock: string }> {
    const table = String(params.TableName);
    const names = await this.keyNames(table, headers);
    const item = (params.Key ?? params.Item) as AttributeMap;
    const key = Object.fromEntries(names.map((name) => [name, item[name]]));
    return { table, key, lock: JSON.stringify([table, ...names.map((name) => item[name])]) };
  }

  private forward(method: string, path: string, headers: IncomingHttpHeaders, body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const upstream = request(
        {
          host: '127.0.0.1',
          port: this.upstreamPort,
          method,
          path,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  private call(action: string, input: unknown, headers: IncomingHttpHeaders): Promise<Reply> {
    return this.forward(
      'POST',
      '/',
      { ...headers, 'x-amz-target': `${TARGET_PREFIX}${action}` },
      JSON.stringify(input),
    );
  }

  private async keyNames(table: string, headers: IncomingHttpHeaders): Promise<string[]> {
    let names = this.keySchemas.get(table);
    if (!names) {
      const reply = await this.call('DescribeTable', { TableName: table }, headers);
      const schema = JSON.parse(reply.body).Table?.KeySchema as { AttributeName: string }[] | undefined;
      if (!schema) throw new Error(`DescribeTable ${table} failed: ${reply.body}`);
      names = schema.map((k) => k.AttributeName);
      this.keySchemas.set(table, names);
    }
    return names;
  }

  private async transactWrite(body: string, headers: IncomingHttpHeaders): Promise<Reply> {
    const input = JSON.parse(body) as { TransactItems?: Record<string, Record<string, unknown>>[] };
    const actions = input.TransactItems ?? [];
    if (actions.length === 0 || actions.length > 100) {
      return validation('TransactItems must have between 1 and 100 items');
    }
    const planned: PlannedWrite[] = [];
    for (const entry of actions) {
      const [action, params] = Object.entries(entry)[0] ?? [];
      if (!action || !params) return validation('each TransactItem needs one of Put, Update or Delete');
      if (action === 'ConditionCheck')
        return validation('ConditionCheck is not supported by the local transaction shim');
      planned.push({ action, params, ...(await this.itemOf(params, headers)) });
    }
    return this.locks.transaction(
      planned.map((step) => step.lock),
      () => this.apply(planned, headers),
    );
  }

  private async apply(planned: readonly PlannedWrite[], headers: IncomingHttpHeaders): Promise<Reply> {
    // Each write returns the item as it was (ALL_OLD): what the undo restores, with no reads first.
    const snapshots: (AttributeMap | undefined)[] = [];
    for (let i = 0; i < planned.length; i++) {
      const step = planned[i]!;
      const { ReturnValuesOnConditionCheckFailure: _ignored, ...params } = step.params;
      const reply = await this.call(`${step.action}Item`, { ...params, ReturnValues: 'ALL_OLD' }, headers);
      if (reply.status === 200) {
        snapshots.push((JSON.parse(reply.body) as { Attributes?: AttributeMap }).Attributes);
        continue;
      }
      await this.undo(planned.slice(0, i), snapshots, headers);
      const error = JSON.parse(reply.body) as { __type?: string; message?: string; Message?: string };
      if (!error.__type?.endsWith('ConditionalCheckFailedException')) return reply;
      const reasons = planned.map((_, j) =>
        j === i
          ? { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }
          : { Code: 'None' },
      );
      return {
        status: 400,
        body: JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
          message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
          CancellationReasons: reasons,
        }),
      };
    }
    return { status: 200, body: '{}' };
  }

  private async undo(
    applied: { table: string; key: AttributeMap }[],
    snapshots: (AttributeMap | undefined)[],
    headers: IncomingHttpHeaders,
  ): Promise<void> {
    for (let i = applied.length - 1; i >= 0; i--) {
      const { table, key } = applied[i]!;
      const before = snapshots[i];
      if (before) await this.call('PutItem', { TableName: table, Item: before }, headers);
      else await this.call('DeleteItem', { TableName: table, Key: key }, headers);
    }
  }
}

function validation(message: string): Reply {
  return {
    status: 400,
    body: JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message }),
  };
}
