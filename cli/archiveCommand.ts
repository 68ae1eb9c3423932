import { AthenaClient } from '@aws-sdk/client-athena';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { AthenaQueryError, namedQueries, runAthenaQuery } from '../core/archive/athenaQuery.ts';
import {
  parameterValues,
  SAVED_QUERIES,
  type SavedQuery,
  SavedQueryError,
  savedQuery,
} from '../core/archive/savedQueries.ts';
import { type CliIo, CliUsageError, printTable, stackOf } from './openStore.ts';
import { existingDataDir, NoStoreError } from './stackOutputs.ts';

/** The local data directory, which must hold a store (the archive sits beside it). */
function localDataDir(options: Record<string, unknown>): string {
  try {
    return existingDataDir(options.dataDir as string | undefined, 'dynamodb');
  } catch (error) {
    if (error instanceof NoStoreError) throw new CliUsageError(error.message, { cause: error });
    throw error;
  }
}

export interface ArchiveCommandDeps {
  /** The Athena client for --stack (tests pass a mocked one). */
  readonly athena?: (region: { region?: string }) => AthenaClient;
  readonly cloudFormation?: (region: { region?: string }) => CloudFormationClient;
}

const ARCHIVE_OUTPUTS = ['ArchiveWorkGroup', 'ArchiveDatabase'] as const;

/** `--param name=value` flags as a record (a flag without `=` is a usage error). */
export function paramsOf(flags: readonly string[] | undefined): Record<string, string> {
  const given: Record<string, string> = {};
  for (const flag of flags ?? []) {
    const at = flag.indexOf('=');
    if (at <= 0) throw new CliUsageError(`--param "${flag}": name=value, e.g. --param since=2014-08-01`);
    given[flag.slice(0, at)] = flag.slice(at + 1);
  }
  return given;
}

async function archiveStack(options: Record<string, unknown>, deps: ArchiveCommandDeps) {
  const { region, outputs } = await stackOf(options, ARCHIVE_OUTPUTS, deps.cloudFormation);
  return {
    athena: (deps.athena ?? ((r) => new AthenaClient(r)))(region),
    workGroup: outputs.ArchiveWorkGroup,
    database: outputs.ArchiveDatabase,
  };
}

/** `leakwatch archive queries`: the saved queries (the stack's workgroup's with --stack). */
export async function archiveQueriesCommand(
  options: Record<string, unknown>,
  io: CliIo,
  deps: ArchiveCommandDeps = {},
): Promise<number> {
  let listed: { name: string; parameters: string; description: string }[];
  if (options.stack) {
    const { athena, workGroup } = await archiveStack(options, deps);
    listed = (await namedQueries(athena, workGroup)).map((q) => ({
      name: q.Name ?? '',
      parameters: paramsText(SAVED_QUERIES.find((s) => s.name === q.Name)),
      description: q.Description ?? '',
    }));
  } else {
    listed = SAVED_QUERIES.map((q) => ({
      name: q.name,
      parameters: paramsText(q),
      description: q.description,
    }));
  }
  if (options.json) io.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
  else
    printTable(
      io,
      ['QUERY', 'PARAMETERS', 'WHAT'],
      listed.map((q) => [q.name, q.parameters, q.description]),
    );
  return 0;
}

const paramsText = (query: SavedQuery | undefined) =>
  query
    ? query.params.map((p) => `${p.name}=<${p.kind === 'day' ? 'yyyy-MM-dd' : p.name}>`).join(' ')
    : '(in order)';

/**
 * `leakwatch archive query NAME --param k=v …`: runs a saved query on the archive: locally with
 * DuckDB over the Parquet files under the data directory, or with --stack on Athena (the named query
 * of the stack's workgroup, so a query a lab saved there runs too; its values go in the order given).
 */
export async function archiveQueryCommand(
  name: string,
  options: Record<string, unknown>,
  io: CliIo,
  deps: ArchiveCommandDeps = {},
): Promise<number> {
  const given = paramsOf(options.param as string[] | undefined);
  let result: { columns: string[]; rows: Record<string, unknown>[] };
  try {
    if (options.stack) {
      const { athena, workGroup, database } = await archiveStack(options, deps);
      const named = (await namedQueries(athena, workGroup)).find((q) => q.Name === name);
      if (!named?.QueryString)
        throw new CliUsageError(`no named query "${name}" in the Athena workgroup ${workGroup}`);
      const builtIn = SAVED_QUERIES.find((q) => q.name === name);
      const params = builtIn ? parameterValues(builtIn, given) : Object.values(given);
      result = await runAthenaQuery(athena, {
        sql: named.QueryString,
        workGroup,
        database: named.Database ?? database,
        params,
      });
    } else {
      const query = savedQuery(name);
      const params = parameterValues(query, given);
      const { ArchiveEmptyError, queryLocalArchive } = await import('../local/localArchive.ts');
      try {
        result = await queryLocalArchive(localDataDir(options), query.sql, params);
      } catch (error) {
        if (!(error instanceof ArchiveEmptyError)) throw error;
        io.stderr.write(`leakwatch archive: ${error.message}\n`);
        return 1;
      }
    }
  } catch (error) {
    if (error instanceof SavedQueryError) throw new CliUsageError(error.message, { cause: error });
    if (error instanceof AthenaQueryError) {
      io.stderr.write(`leakwatch archive: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (options.json) io.stdout.write(`${JSON.stringify(result.rows, null, 2)}\n`);
  else
    printTable(
      io,
      result.columns,
      result.rows.map((row) => result.columns.map((c) => cell(row[c]))),
    );
  return 0;
}

const cell = (value: unknown): string =>
  value === null || value === undefined
    ? ''
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);
