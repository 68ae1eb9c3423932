import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  ARCHIVE_COLUMNS,
  ARCHIVE_PARTITION_KEYS,
  ARCHIVE_PREFIX,
  ARCHIVE_TABLE,
  type ArchiveRow,
  type ArchiveSink,
} from '../core/archive/archiveRow.ts';

/**
 * Local mode's flow archive: what Firehose and Athena do on AWS, as files under the data directory.
 *
 *   <data dir>/archive/flows/dt=<yyyy-MM-dd>/model=<model>/part-<uuid>.parquet
 *
 * A flush first spools the batch's rows to `archive/incoming/*.ndjson`, then DuckDB converts the
 * spool into Parquet partitioned by day and model (the layout Firehose writes to S3) and the spool
 * is removed. A spool left by an interrupted run is converted when the archive is next opened, so
 * a row accepted is not lost. Queries read the files through DuckDB as the view `flows`, the name
 * the Glue table has on AWS, so the saved queries run unchanged.
 */
export class LocalArchive implements ArchiveSink {
  private rows: ArchiveRow[] = [];
  private db: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> | undefined;

  constructor(private readonly dir: string) {}

  /** The archive directory of a data directory. */
  static dirOf(dataDir: string): string {
    return join(dataDir, 'archive');
  }

  /** Rows written to Parquet by this archive object. */
  written = 0;

  add(row: ArchiveRow): void {
    this.rows.push(row);
  }

  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    const incoming = join(this.dir, 'incoming');
    await mkdir(incoming, { recursive: true });
    const spool = join(incoming, `${Date.now()}-${randomUUID()}.ndjson`);
    await writeFile(spool, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
    await this.convert(spool);
    this.written += rows.length;
  }

  /** Converts spools an interrupted run left behind; returns how many. */
  async recover(): Promise<number> {
    const incoming = join(this.dir, 'incoming');
    if (!existsSync(incoming)) return 0;
    const spools = (await readdir(incoming)).filter((name) => name.endsWith('.ndjson')).sort();
    for (const name of spools) await this.convert(join(incoming, name));
    return spools.length;
  }

  async close(): Promise<void> {
    const db = await this.db;
    this.db = undefined;
    db?.connection.closeSync();
    db?.instance.closeSync();
  }

  private async convert(spool: string): Promise<void> {
    const { connection } = await this.open();
    const columns = [...ARCHIVE_COLUMNS, ...ARCHIVE_PARTITION_KEYS]
      .map((c) => `${quoteName(c.name)}: ${quoteText(duckdbType(c.type))}`)
      .join(', ');
    await connection.run(
      `COPY (SELECT * FROM read_json(${quoteText(spool)}, format = 'newline_delimited', columns = {${columns}}))
       TO ${quoteText(join(this.dir, ARCHIVE_PREFIX))}
       (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, model), FILENAME_PATTERN 'part-{uuid}', OVERWRITE_OR_IGNORE)`,
    );
    await rm(spool);
  }

  private open() {
    this.db ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:');
      return { instance, connection: await instance.connect() };
    })();
    return this.db;
  }
}

export class ArchiveEmptyError extends Error {
  override name = 'ArchiveEmptyError';
}

export type ArchiveValue =
  | string
  | number
  | boolean
  | null
  | ArchiveValue[]
  | { [key: string]: ArchiveValue };

/**
 * Runs SQL on the local archive, the view `flows` being its files, with `?` parameters.
 * Numbers come back as numbers (BIGINT too, while exact), lists and structs as arrays and objects.
 */
export async function queryLocalArchive(
  dataDir: string,
  sql: string,
  params: readonly string[],
): Promise<{ columns: string[]; rows: Record<string, ArchiveValue>[] }> {
  const flows = join(LocalArchive.dirOf(dataDir), ARCHIVE_PREFIX);
  if (!existsSync(flows) || (await readdir(flows)).length === 0)
    throw new ArchiveEmptyError(
      `the local archive (${flows}) has no flows yet: run npm start (or leakwatch probe) first`,
    );
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const hiveTypes = ARCHIVE_PARTITION_KEYS.map((k) => `${quoteText(k.name)}: VARCHAR`).join(', ');
    await connection.run(
      `CREATE VIEW ${ARCHIVE_TABLE} AS SELECT * FROM read_parquet(${quoteText(join(flows, '**', '*.parquet'))}, hive_partitioning = true, hive_types = {${hiveTypes}}, union_by_name = true)`,
    );
    const reader = await connection.runAndReadAll(sql, [...params]);
    return {
      columns: reader.columnNames(),
      rows: reader.getRowObjectsJS().map((row) => plain(row) as Record<string, ArchiveValue>),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function plain(value: unknown): ArchiveValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint')
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, plain(v)]),
    );
  return String(value);
}

/** The DuckDB type of a Glue (Hive) column type: string, int, bigint, boolean, array<…>, struct<…>. */
export function duckdbType(glueType: string): string {
  const type = glueType.trim();
  const scalar: Record<string, string> = {
    string: 'VARCHAR',
    int: 'INTEGER',
    bigint: 'BIGINT',
    boolean: 'BOOLEAN',
    double: 'DOUBLE',
  };
  if (scalar[type]) return scalar[type];
  const array = /^array<(.*)>$/.exec(type);
  if (array) return `${duckdbType(array[1]!)}[]`;
  const struct = /^struct<(.*)>$/.exec(type);
  if (struct)
    return `STRUCT(${topLevel(struct[1]!)
      .map((field) => {
        const colon = field.indexOf(':');
        return `${quoteName(field.slice(0, colon))} ${duckdbType(field.slice(colon + 1))}`;
      })
      .join(', ')})`;
  throw new Error(`no DuckDB type for the Glue type ${glueType}`);
}

/** Splits `a:string,b:array<struct<c:int,d:int>>` at its top-level commas. */
function topLevel(fields: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < fields.length; i++) {
    const c = fields[i];
    if (c === '<') depth++;
    else if (c === '>') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(fields.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(fields.slice(start));
  return parts;
}

const quoteText = (value: string) => `'${value.replaceAll("'", "''")}'`;
const quoteName = (name: string) => `"${name.replaceAll('"', '""')}"`;
