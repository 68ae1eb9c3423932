import { setTimeout as delay } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * What the DynamoDB requests sent through one client cost, as DynamoDB bills them: every request
 * asks for its consumed capacity (`ReturnConsumedCapacity: TOTAL`; dynalite computes it by item
 * size as DynamoDB does, and the local transaction shim returns a transaction's at twice its items'
 * units, as DynamoDB charges transactions), and the meter adds up requests per operation and read
 * and write units. Optionally every request waits `latencyMs` first, so a benchmark's throughput
 * reflects a service's round trip rather than a loopback emulator's.
 */
export interface DynamoCost {
  readonly requests: Record<string, number>;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** The same, per part of the work the meter's `part` option named (requests all told). */
  readonly parts?: Readonly<Record<string, PartCost>>;
}

export interface PartCost {
  readonly requests: number;
  readonly readUnits: number;
  readonly writeUnits: number;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

export interface DynamoMeter {
  /** Totals since the meter was attached (or last reset). */
  cost(): DynamoCost;
  reset(): void;
}

/** The operation of an SDK command, document-client names (`UpdateCommand`) included. */
const DOCUMENT_COMMANDS: Record<string, string> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};
const operationOf = (commandName: string) => {
  const name = commandName.replace(/Command$/, '');
  return DOCUMENT_COMMANDS[name] ?? name;
};

interface CapacityEntry {
  readonly CapacityUnits?: number;
}

/** Attaches the meter (and the optional latency) to `client`; document clients made from it share it. */
export function meterDynamo(
  client: DynamoDBClient,
  options: {
    latencyMs?: number;
    /** Names the part of the work a request belongs to (its cost is also added up apart). */
    part?: (operation: string, input: Record<string, unknown>) => string | undefined;
  } = {},
): DynamoMeter {
  let requests: Record<string, number> = {};
  let readUnits = 0;
  let writeUnits = 0;
  let parts: Record<string, { requests: number; readUnits: number; writeUnits: number }> = {};
  const latencyMs = options.latencyMs ?? 0;
  const partOf = (name: string) => {
    parts[name] ??= { requests: 0, readUnits: 0, writeUnits: 0 };
    return parts[name];
  };
  const count = (part: string | undefined, write: boolean, units: number) => {
    if (write) writeUnits += units;
    else readUnits += units;
    if (part === undefined) return;
    const p = partOf(part);
    if (write) p.writeUnits += units;
    else p.readUnits += units;
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = operationOf(String(context.commandName ?? ''));
      const metered = WRITES.has(operation) || READS.has(operation);
      const input = args.input as Record<string, unknown>;
      const part = metered ? options.part?.(operation, input) : undefined;
      if (metered) {
        requests[operation] = (requests[operation] ?? 0) + 1;
        if (part !== undefined) partOf(part).requests++;
        input.ReturnConsumedCapacity ??= 'TOTAL';
      }
      if (latencyMs > 0) await delay(latencyMs);
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (error) {
        // A write refused by its condition is billed all the same (by the item's size, which the
        // error does not tell): counted as one unit, the least it costs.
        if (metered && (error as Error).name === 'ConditionalCheckFailedException') count(part, true, 1);
        throw error;
      }
      if (metered) {
        const consumed = (result.output as { ConsumedCapacity?: CapacityEntry | CapacityEntry[] })
          .ConsumedCapacity;
        const units = [consumed ?? []].flat().reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
        count(part, WRITES.has(operation), units);
      }
      return result;
    },
    { step: 'initialize', name: 'leakwatchDynamoMeter', override: true },
  );
  return {
    cost: () => ({
      requests: { ...requests },
      readUnits,
      writeUnits,
      parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, { ...v }])),
    }),
    reset() {
      requests = {};
      parts = {};
      readUnits = 0;
      writeUnits = 0;
    },
  };
}

/** `a + sign × b`, operation by operation and part by part (operations that come to 0 left out). */
function combine(a: DynamoCost, b: DynamoCost, sign: 1 | -1): DynamoCost {
  const requests: Record<string, number> = {};
  for (const operation of new Set([...Object.keys(a.requests), ...Object.keys(b.requests)])) {
    const n = (a.requests[operation] ?? 0) + sign * (b.requests[operation] ?? 0);
    if (n > 0) requests[operation] = n;
  }
  const parts: Record<string, PartCost> = {};
  for (const name of new Set([...Object.keys(a.parts ?? {}), ...Object.keys(b.parts ?? {})])) {
    const p = a.parts?.[name];
    const q = b.parts?.[name];
    parts[name] = {
      requests: (p?.requests ?? 0) + sign * (q?.requests ?? 0),
      readUnits: (p?.readUnits ?? 0) + sign * (q?.readUnits ?? 0),
      writeUnits: (p?.writeUnits ?? 0) + sign * (q?.writeUnits ?? 0),
    };
  }
  return {
    requests,
    readUnits: a.readUnits + sign * b.readUnits,
    writeUnits: a.writeUnits + sign * b.writeUnits,
    parts,
  };
}

/** `a − b`, for the cost of one stage between two readings. */
export const costBetween = (after: DynamoCost, before: DynamoCost): DynamoCost => combine(after, before, -1);

/** `a + b`, for the cost of several stages. */
export const costSum = (a: DynamoCost, b: DynamoCost): DynamoCost => combine(a, b, 1);

export const totalRequests = (cost: DynamoCost) => Object.values(cost.requests).reduce((a, b) => a + b, 0);
