import { setTimeout as delay } from 'node:timers/promises';
import {
  type AthenaClient,
  BatchGetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListNamedQueriesCommand,
  type NamedQuery,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { athenaLiteral } from './savedQueries.ts';

/** The named queries of an Athena workgroup (the stack saves SAVED_QUERIES there; labs may add more). */
export async function namedQueries(athena: AthenaClient, workGroup: string): Promise<NamedQuery[]> {
  const ids: string[] = [];
  let next: string | undefined;
  do {
    const page = await athena.send(
      new ListNamedQueriesCommand({ WorkGroup: workGroup, ...(next ? { NextToken: next } : {}) }),
    );
    ids.push(...(page.NamedQueryIds ?? []));
    next = page.NextToken;
  } while (next);
  const queries: NamedQuery[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const batch = await athena.send(new BatchGetNamedQueryCommand({ NamedQueryIds: ids.slice(i, i + 50) }));
    queries.push(...(batch.NamedQueries ?? []));
  }
  return queries.sort((a, b) => (a.Name ?? '').localeCompare(b.Name ?? ''));
}

export class AthenaQueryError extends Error {
  override name = 'AthenaQueryError';
}

export interface AthenaResult {
  readonly queryExecutionId: string;
  readonly columns: string[];
  readonly rows: Record<string, string | number | null>[];
}

const NUMERIC = new Set(['tinyint', 'smallint', 'integer', 'bigint', 'double', 'float', 'real', 'decimal']);

/**
 * Runs SQL in the workgroup with `?` parameters (as SQL literals, the way Athena takes them), waits
 * for it, and reads every page of its result. Numeric columns come back as numbers.
 */
export async function runAthenaQuery(
  athena: AthenaClient,
  query: { sql: string; workGroup: string; database: string; params: readonly string[] },
  wait: { pollMs?: number; timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<AthenaResult> {
  const sleep = wait.sleep ?? delay;
  const started = await athena.send(
    new StartQueryExecutionCommand({
      QueryString: query.sql,
      WorkGroup: query.workGroup,
      QueryExecutionContext: { Database: query.database },
      ...(query.params.length > 0 ? { ExecutionParameters: query.params.map(athenaLiteral) } : {}),
    }),
  );
  const id = started.QueryExecutionId!;
  const deadline = Date.now() + (wait.timeoutMs ?? 300_000);
  for (;;) {
    const { QueryExecution: execution } = await athena.send(
      new GetQueryExecutionCommand({ QueryExecutionId: id }),
    );
    const state = execution?.Status?.State;
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED' || state === 'CANCELLED')
      throw new AthenaQueryError(
        `Athena query ${id} ${state.toLowerCase()}: ${execution?.Status?.StateChangeReason ?? 'no reason given'}`,
      );
    if (Date.now() > deadline)
      throw new AthenaQueryError(
        `Athena query ${id} still ${state ?? 'queued'}; its result will be in the workgroup's output location`,
      );
    await sleep(wait.pollMs ?? 500);
  }
  let columns: string[] = [];
  let numeric: boolean[] = [];
  const rows: Record<string, string | number | null>[] = [];
  let next: string | undefined;
  let first = true;
  do {
    const page = await athena.send(
      new GetQueryResultsCommand({ QueryExecutionId: id, ...(next ? { NextToken: next } : {}) }),
    );
    const info = page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
    if (first) {
      columns = info.map((c) => c.Name ?? '');
      numeric = info.map((c) => NUMERIC.has((c.Type ?? '').toLowerCase()));
    }
    // The first row of the first page repeats the column names.
    for (const row of (page.ResultSet?.Rows ?? []).slice(first ? 1 : 0)) {
      const data = row.Data ?? [];
      rows.push(
        Object.fromEntries(
          columns.map((name, i) => {
            const value = data[i]?.VarCharValue;
            return [name, value === undefined ? null : numeric[i] ? Number(value) : value];
          }),
        ),
      );
    }
    first = false;
    next = page.NextToken;
  } while (next);
  return { queryExecutionId: id, columns, rows };
}
