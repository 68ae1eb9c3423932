import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * dynalite implements DynamoDB's item API but not TransactWriteItems (architect/dynalite#151).
 * This loopback proxy adds it for local mode: the transaction's writes are applied one by one with
 * their conditions while requests touching its items wait (ItemLocks), and if one condition fails
 * the writes already applied are undone from the old items their writes returned, then
 * TransactionCanceledException is returned with CancellationReasons, as DynamoDB does. Put, Update
 * and Delete are supported; ConditionCheck is not.
 * Atomic against the emulator's other clients, which all come through this proxy.
 *
 * Crash-safe with a journal directory (the on-disk store of `leakwatch run` and `serve`): before a
 * transaction writes, the items as they are (one BatchGetItem) go to a journal file, which is
 * removed once the transaction is applied or undone. A process killed in between leaves the file,
 * and the next start restores those items before taking requests, so a transaction is never half
 * applied; its caller got no answer and retries it, as with DynamoDB. Without a journal (in-memory
 * stores: tests, benchmarks) the undo uses the old items the writes return and a crash loses the
 * store anyway.
 */
const TARGET_PREFIX = 'DynamoDB_20120810.';
/** LEAKWATCH_FAULT_KILL_IN_TRANSACTION=N: kill the process inside its first journalled transaction of two or more writes from the Nth on (tests only). */
const KILL_IN_TRANSACTION = Number(process.env.LEAKWATCH_FAULT_KILL_IN_TRANSACTION) || 0;
/** LEAKWATCH_FAULT_KILL_AFTER_ITEM_WRITES=N: kill the process once its Nth UpdateItem is applied, before it answers (tests only). */
const KILL_AFTER_ITEM_WRITES = Number(process.env.LEAKWATCH_FAULT_KILL_AFTER_ITEM_WRITES) || 0;
let itemWrites = 0;
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
  private journalled = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly journalDir?: string,
  ) {}

  /** Restores the items of transactions a killed process left half applied. Returns how many. */
  async recover(): Promise<number> {
    if (!this.journalDir) return 0;
    mkdirSync(this.journalDir, { recursive: true });
    let recovered = 0;
    for (const name of readdirSync(this.journalDir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const path = join(this.journalDir, name);
      let steps: JournalStep[];
      try {
        steps = JSON.parse(readFileSync(path, 'utf8')) as JournalStep[];
      } catch {
        // Killed while the journal itself was written: no write of that transaction was sent yet.
        unlinkSync(path);
        continue;
      }
      await this.restore(steps, INTERNAL_HEADERS);
      unlinkSync(path);
      recovered++;
    }
    return recovered;
  }

  async listen(port = 0): Promise<number> {
    await this.recover();
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
      if (item) {
        const reply = await this.locks.item(item.lock, forward);
        // Fault injection for the crash tests (test/cli/serve.test.ts): the process dies between
        // two item writes of one ingest batch, the write applied and its answer never sent.
        if (action === 'UpdateItem' && KILL_AFTER_ITEM_WRITES > 0 && ++itemWrites >= KILL_AFTER_ITEM_WRITES)
          process.kill(process.pid, 'SIGKILL');
        return reply;
      }
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
    const input = JSON.parse(body) as {
      TransactItems?: Record<string, Record<string, unknown>>[];
      ReturnConsumedCapacity?: string;
    };
    const capacity = input.ReturnConsumedCapacity === 'TOTAL' || input.ReturnConsumedCapacity === 'INDEXES';
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
      () =>
        this.journalDir
          ? this.applyJournalled(planned, headers, capacity)
          : this.apply(planned, headers, undefined, capacity),
    );
  }

  /** As `apply`, with the items' prior state in a journal file while the writes are under way. */
  private async applyJournalled(
    planned: readonly PlannedWrite[],
    headers: IncomingHttpHeaders,
    capacity: boolean,
  ): Promise<Reply> {
    const steps = await this.currentItems(planned, headers);
    const journal = join(this.journalDir!, `${Date.now().toString().padStart(15, '0')}-${randomUUID()}.json`);
    writeFileSync(journal, JSON.stringify(steps));
    this.journalled++;
    let reply: Reply;
    try {
      reply = await this.apply(planned, headers, steps, capacity);
    } catch (error) {
      // A write failed without an answer (the emulator went away): put back what was there, or
      // leave the journal for the next start if even that fails.
      await this.restore(steps, headers);
      unlinkSync(journal);
      throw error;
    }
    unlinkSync(journal);
    return reply;
  }

  /** The transaction's items as they are now (undefined: absent), read together. */
  private async currentItems(
    planned: readonly PlannedWrite[],
    headers: IncomingHttpHeaders,
  ): Promise<JournalStep[]> {
    const found = new Map<string, AttributeMap>();
    let request: Record<string, { Keys: AttributeMap[]; ConsistentRead: boolean }> = {};
    for (const step of planned) {
      request[step.table] ??= { Keys: [], ConsistentRead: true };
      request[step.table]!.Keys.push(step.key);
    }
    while (Object.keys(request).length > 0) {
      const reply = await this.call('BatchGetItem', { RequestItems: request }, headers);
      if (reply.status !== 200)
        throw new Error(`BatchGetItem for the transaction journal failed: ${reply.body}`);
      const body = JSON.parse(reply.body) as {
        Responses?: Record<string, AttributeMap[]>;
        UnprocessedKeys?: Record<string, { Keys: AttributeMap[]; ConsistentRead: boolean }>;
      };
      for (const [table, items] of Object.entries(body.Responses ?? {}))
        for (const item of items) {
          const step = planned.find((s) => s.table === table && sameKey(s.key, item));
          if (step) found.set(step.lock, item);
        }
      request = body.UnprocessedKeys ?? {};
    }
    return planned.map((step) => ({ table: step.table, key: step.key, before: found.get(step.lock) }));
  }

  private async restore(steps: readonly JournalStep[], headers: IncomingHttpHeaders): Promise<void> {
    for (const { table, key, before } of [...steps].reverse()) {
      const reply = before
        ? await this.call('PutItem', { TableName: table, Item: before }, headers)
        : await this.call('DeleteItem', { TableName: table, Key: key }, headers);
      if (reply.status !== 200)
        throw new Error(`restoring ${table} ${JSON.stringify(key)} failed: ${reply.body}`);
    }
  }

  private async apply(
    planned: readonly PlannedWrite[],
    headers: IncomingHttpHeaders,
    journalled?: readonly JournalStep[],
    returnCapacity = false,
  ): Promise<Reply> {
    // Each write returns the item as it was (ALL_OLD): what the undo restores, with no reads first
    // (with a journal, the items read before are used instead).
    const snapshots: (AttributeMap | undefined)[] = journalled ? journalled.map((s) => s.before) : [];
    // Capacity as DynamoDB counts a transaction: each item's write units (its larger image, by KB), twice.
    const capacity = new Map<string, number>();
    for (let i = 0; i < planned.length; i++) {
      const step = planned[i]!;
      const { ReturnValuesOnConditionCheckFailure: _ignored, ...params } = step.params;
      const reply = await this.call(
        `${step.action}Item`,
        { ...params, ReturnValues: 'ALL_OLD', ReturnConsumedCapacity: 'TOTAL' },
        headers,
      );
      // Fault injection for the crash tests (test/cli/serve.test.ts): the whole process dies with
      // this transaction half applied, as kill -9 at the worst moment would leave it.
      if (
        journalled &&
        KILL_IN_TRANSACTION > 0 &&
        this.journalled >= KILL_IN_TRANSACTION &&
        planned.length > 1 &&
        i === 0
      )
        process.kill(process.pid, 'SIGKILL');
      if (reply.status === 200) {
        const answer = JSON.parse(reply.body) as {
          Attributes?: AttributeMap;
          ConsumedCapacity?: { CapacityUnits?: number };
        };
        if (!journalled) snapshots.push(answer.Attributes);
        capacity.set(
          step.table,
          (capacity.get(step.table) ?? 0) + 2 * (answer.ConsumedCapacity?.CapacityUnits ?? 1),
        );
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
    return {
      status: 200,
      body: JSON.stringify(
        returnCapacity
          ? {
              ConsumedCapacity: [...capacity].map(([TableName, units]) => ({
                TableName,
                CapacityUnits: units,
                WriteCapacityUnits: units,
              })),
            }
          : {},
      ),
    };
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

interface JournalStep {
  readonly table: string;
  readonly key: AttributeMap;
  /** The item before the transaction; undefined when there was none. */
  readonly before?: AttributeMap | undefined;
}

/** Headers for the shim's own requests at start (recovery): dynalite checks their form, not the signature. */
const INTERNAL_HEADERS: IncomingHttpHeaders = {
  'content-type': 'application/x-amz-json-1.0',
  authorization:
    'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0000',
  'x-amz-date': '20260101T000000Z',
};

/** Whether an item has the key's attribute values (DynamoDB JSON compared as text). */
const sameKey = (key: AttributeMap, item: AttributeMap) =>
  Object.entries(key).every(([name, value]) => JSON.stringify(item[name]) === JSON.stringify(value));

function validation(message: string): Reply {
  return {
    status: 400,
    body: JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message }),
  };
}
