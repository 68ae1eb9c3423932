import { ARCHIVE_TABLE, modelPartition } from './archiveRow.ts';

/**
 * Saved queries of the flow archive. The same SQL runs on Athena (the stack saves each as a named
 * query in the archive's workgroup) and, locally, on DuckDB over the Parquet files, so it keeps to
 * what both engines read alike: `CROSS JOIN UNNEST(...) AS t(x)`, `substr`, `COUNT(DISTINCT ...)`,
 * and `?` parameters in the order `params` lists them. The table is named without its database
 * (each stack has its own Glue database; the query runs in it), `flows` locally too.
 *
 * A delivery may archive a flow twice (archiving is at least once), so flows are counted by
 * DISTINCT flow_id. `dt` (the day) and `model` (the model's path form) are the partitions: a
 * condition on them reads only those files.
 */
export interface SavedQueryParam {
  readonly name: string;
  readonly description: string;
  /** `model`: a model's name, turned into its partition value; `day`: yyyy-MM-dd. */
  readonly kind: 'text' | 'model' | 'day';
}

export interface SavedQuery {
  readonly name: string;
  readonly description: string;
  readonly params: readonly SavedQueryParam[];
  readonly sql: string;
}

const flows = ARCHIVE_TABLE;
const since: SavedQueryParam = { name: 'since', description: 'first day, yyyy-MM-dd', kind: 'day' };

export const SAVED_QUERIES: readonly SavedQuery[] = [
  {
    name: 'data-by-build',
    description:
      'How each personal data type left one model, build by build: flows in plaintext and encrypted, first and last day',
    params: [{ name: 'model', description: 'device model, e.g. "RedMi 1S"', kind: 'model' }, since],
    sql: `SELECT line_name, build, data_type,
  COUNT(DISTINCT CASE WHEN transport = 'plaintext' THEN flow_id END) AS plaintext_flows,
  COUNT(DISTINCT CASE WHEN transport <> 'plaintext' THEN flow_id END) AS encrypted_flows,
  MIN(dt) AS first_day,
  MAX(dt) AS last_day
FROM ${flows}
CROSS JOIN UNNEST(data_types) AS t(data_type)
WHERE model = ? AND dt >= ?
GROUP BY line_name, build, data_type
ORDER BY line_name, build, data_type`,
  },
  {
    name: 'fleet-to-country',
    description:
      'Which models and builds sent personal data to servers registered in one country, month by month',
    params: [
      { name: 'country', description: 'ISO country code, e.g. CN (ZZ: unknown)', kind: 'text' },
      since,
    ],
    sql: `SELECT substr(dt, 1, 7) AS month, model_name, line_name, build, data_type, organisation,
  COUNT(DISTINCT flow_id) AS flows,
  COUNT(DISTINCT CASE WHEN transport = 'plaintext' THEN flow_id END) AS plaintext_flows
FROM ${flows}
CROSS JOIN UNNEST(data_types) AS t(data_type)
WHERE country = ? AND dt >= ?
GROUP BY substr(dt, 1, 7), model_name, line_name, build, data_type, organisation
ORDER BY month, model_name, build, data_type, organisation`,
  },
  {
    name: 'device-days',
    description: 'What one lab device sent, day by day: destinations, transport and personal data',
    params: [{ name: 'device', description: 'lab device id', kind: 'text' }, since],
    sql: `SELECT dt, build, organisation, registrable_domain, transport,
  COUNT(DISTINCT flow_id) AS flows,
  COUNT(DISTINCT CASE WHEN personal_data THEN flow_id END) AS flows_with_personal_data,
  COUNT(DISTINCT CASE WHEN without_consent THEN flow_id END) AS flows_without_consent
FROM ${flows}
WHERE device_id = ? AND dt >= ?
GROUP BY dt, build, organisation, registrable_domain, transport
ORDER BY dt, build, organisation, registrable_domain, transport`,
  },
];

export class SavedQueryError extends Error {
  override name = 'SavedQueryError';
}

export function savedQuery(name: string): SavedQuery {
  const query = SAVED_QUERIES.find((q) => q.name === name);
  if (!query)
    throw new SavedQueryError(
      `no saved query "${name}" (saved: ${SAVED_QUERIES.map((q) => q.name).join(', ')})`,
    );
  return query;
}

/**
 * The query's parameter values in order, from `name=value` arguments: each checked (a missing,
 * unknown or malformed one is a SavedQueryError saying which) and a model turned into its partition.
 */
export function parameterValues(
  query: Pick<SavedQuery, 'name' | 'params'>,
  given: Record<string, string>,
): string[] {
  const unknown = Object.keys(given).filter((name) => !query.params.some((p) => p.name === name));
  if (unknown.length > 0)
    throw new SavedQueryError(
      `${query.name} has no parameter ${unknown.join(', ')} (its parameters: ${query.params.map((p) => p.name).join(', ')})`,
    );
  return query.params.map((param) => {
    const value = given[param.name];
    if (value === undefined || value === '')
      throw new SavedQueryError(`${query.name} needs --param ${param.name}=… (${param.description})`);
    if (param.kind === 'day' && !isDay(value))
      throw new SavedQueryError(`--param ${param.name}=${value}: a day as yyyy-MM-dd`);
    return param.kind === 'model' ? modelPartition(value) : value;
  });
}

const isDay = (value: string) =>
  /^\d{4}-\d{2}-\d{2}$/.test(value) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value);

/** Athena's execution parameters are SQL literals: strings quoted, quotes doubled. */
export const athenaLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;
