import {
  AthenaClient,
  BatchGetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListNamedQueriesCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { BatchCreatePartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { ARCHIVE_COLUMNS, type ArchiveRow, modelPartition } from '../../core/archive/archiveRow.ts';
import { AthenaQueryError, namedQueries, runAthenaQuery } from '../../core/archive/athenaQuery.ts';
import { ArchiveError, FirehoseArchive, GluePartitions } from '../../core/archive/firehoseArchive.ts';
import {
  athenaLiteral,
  parameterValues,
  SAVED_QUERIES,
  savedQuery,
} from '../../core/archive/savedQueries.ts';
import { duckdbType } from '../../local/localArchive.ts';

const firehose = mockClient(FirehoseClient);
const glue = mockClient(GlueClient);
const athena = mockClient(AthenaClient);
const noWait = async () => undefined;

const row = (i: number, partition: { dt: string; model: string } = { dt: '2014-08-08', model: 'redmi-1s' }) =>
  ({
    flow_id: `f${i}`,
    ...partition,
    model_name: 'RedMi 1S',
    data_types: [],
    findings: [],
  }) as unknown as ArchiveRow;

describe('archive rows', () => {
  it("turns a model's name into its partition value", () => {
    expect(modelPartition('RedMi 1S')).toBe('redmi-1s');
    expect(modelPartition('Mi 4 LTE (2014)')).toBe('mi-4-lte-2014');
    expect(modelPartition('Pocophone F1 / Ü')).toBe('pocophone-f1-u');
    expect(modelPartition('---')).toBe('unknown');
  });

  it('maps every column type to a DuckDB type', () => {
    for (const column of ARCHIVE_COLUMNS) expect(() => duckdbType(column.type)).not.toThrow();
    expect(duckdbType('array<struct<a:string,b:array<int>,c:boolean>>')).toBe(
      'STRUCT("a" VARCHAR, "b" INTEGER[], "c" BOOLEAN)[]',
    );
    expect(() => duckdbType('map<string,string>')).toThrow(
      'no DuckDB type for the Glue type map<string,string>',
    );
  });
});

describe('saved queries', () => {
  it('checks parameters and gives them in order, a model as its partition value', () => {
    const query = savedQuery('data-by-build');
    expect(parameterValues(query, { since: '2014-08-01', model: 'RedMi 1S' })).toEqual([
      'redmi-1s',
      '2014-08-01',
    ]);
    expect(() => parameterValues(query, { model: 'RedMi 1S' })).toThrow(
      'data-by-build needs --param since=… (first day, yyyy-MM-dd)',
    );
    expect(() => parameterValues(query, { model: 'x', since: '2014-02-30' })).toThrow(
      '--param since=2014-02-30: a day as yyyy-MM-dd',
    );
    expect(() => parameterValues(query, { model: 'x', since: '2014-08-01', country: 'CN' })).toThrow(
      'data-by-build has no parameter country (its parameters: model, since)',
    );
    expect(() => savedQuery('nope')).toThrow(
      `no saved query "nope" (saved: ${SAVED_QUERIES.map((q) => q.name).join(', ')})`,
    );
  });

  it('has as many ? placeholders as parameters in each query', () => {
    for (const query of SAVED_QUERIES) expect(query.sql.split('?').length - 1).toBe(query.params.length);
  });

  it('quotes Athena execution parameters as SQL literals', () => {
    expect(athenaLiteral("O'Brien")).toBe("'O''Brien'");
    expect(athenaLiteral('CN')).toBe("'CN'");
  });
});

describe('Firehose archive', () => {
  beforeEach(() => {
    firehose.reset();
    glue.reset();
  });

  it('sends rows as JSON lines, 500 to a Firehose record (the stream deaggregates them), after adding their partitions', async () => {
    firehose.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0, RequestResponses: [] });
    glue.on(BatchCreatePartitionCommand).resolves({ Errors: [] });
    const partitions = new GluePartitions(new GlueClient({}), {
      database: 'db',
      table: 'flows',
      bucket: 'b',
    });
    const archive = new FirehoseArchive(new FirehoseClient({}), 'archive', { partitions, sleep: noWait });
    for (let i = 0; i < 1201; i++) archive.add(row(i, { dt: `2014-08-0${1 + (i % 2)}`, model: 'redmi-1s' }));

    await archive.flush();
    await archive.flush(); // nothing left: no call

    const calls = firehose.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.DeliveryStreamName).toBe('archive');
    const records = calls[0]!.Records!.map((r) => Buffer.from(r.Data!).toString());
    const lines = records.map((record) => record.split('\n'));
    // Each record: JSON lines, each ending with a newline (JSONL, as deaggregation reads it).
    expect(lines.map((l) => l.length - 1)).toEqual([500, 500, 201]);
    expect(lines.every((l) => l.at(-1) === '')).toBe(true);
    expect(JSON.parse(lines[0]![0]!)).toMatchObject({ flow_id: 'f0', dt: '2014-08-01', model: 'redmi-1s' });
    expect(JSON.parse(lines[2]![200]!)).toMatchObject({ flow_id: 'f1200' });
    const created = glue.commandCalls(BatchCreatePartitionCommand).map((c) => c.args[0].input);
    expect(created).toHaveLength(1);
    expect(created[0]!.PartitionInputList!.map((p) => [p.Values, p.StorageDescriptor!.Location])).toEqual([
      [['2014-08-01', 'redmi-1s'], 's3://b/flows/dt=2014-08-01/model=redmi-1s/'],
      [['2014-08-02', 'redmi-1s'], 's3://b/flows/dt=2014-08-02/model=redmi-1s/'],
    ]);
    expect(created[0]!.PartitionInputList![0]!.StorageDescriptor!.Columns!.map((c) => c.Name)).toEqual(
      ARCHIVE_COLUMNS.map((c) => c.name),
    );

    // Partitions are added once per execution environment.
    archive.add(row(9999, { dt: '2014-08-01', model: 'redmi-1s' }));
    await archive.flush();
    expect(glue.commandCalls(BatchCreatePartitionCommand)).toHaveLength(1);
  });

  it('keeps a record under 1,000 KiB and a call under 4 MiB when rows are large', async () => {
    firehose.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0, RequestResponses: [] });
    const archive = new FirehoseArchive(new FirehoseClient({}), 'archive', { sleep: noWait });
    for (let i = 0; i < 100; i++)
      archive.add({ ...row(i), pad: 'x'.repeat(100_000) } as unknown as ArchiveRow);

    await archive.flush();

    const calls = firehose.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input.Records!);
    const sizes = calls.flat().map((r) => r.Data!.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000 * 1024);
    for (const records of calls)
      expect(records.reduce((sum, r) => sum + r.Data!.length, 0)).toBeLessThanOrEqual(4 * 1024 * 1024);
    const rows = calls.flat().flatMap((r) => Buffer.from(r.Data!).toString().split('\n').slice(0, -1));
    expect(rows.map((line) => JSON.parse(line).flow_id)).toEqual(
      Array.from({ length: 100 }, (_, i) => `f${i}`),
    );
  });

  it('sends again only the records Firehose did not accept', async () => {
    firehose
      .on(PutRecordBatchCommand)
      .resolvesOnce({
        FailedPutCount: 1,
        RequestResponses: [
          { RecordId: 'a' },
          { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'slow down' },
          { RecordId: 'c' },
        ],
      })
      .resolves({ FailedPutCount: 0, RequestResponses: [{ RecordId: 'b' }] });
    const archive = new FirehoseArchive(new FirehoseClient({}), 'archive', { sleep: noWait });
    for (let i = 0; i < 1201; i++) archive.add(row(i));

    await archive.flush();

    const calls = firehose.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input.Records!);
    expect(calls.map((records) => records.length)).toEqual([3, 1]);
    const resent = Buffer.from(calls[1]![0]!.Data!).toString().split('\n');
    expect(JSON.parse(resent[0]!).flow_id).toBe('f500');
    expect(resent).toHaveLength(501);
  });

  it('throws, naming the stream and the error, when records are still refused after every attempt', async () => {
    firehose.on(PutRecordBatchCommand).resolves({
      FailedPutCount: 1,
      RequestResponses: [{ ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'slow down' }],
    });
    const archive = new FirehoseArchive(new FirehoseClient({}), 'archive', { sleep: noWait, maxAttempts: 3 });
    archive.add(row(1));

    const failure = archive.flush();
    await expect(failure).rejects.toThrow(ArchiveError);
    await expect(failure).rejects.toThrow(
      'Firehose stream archive did not accept 1 of 1 records (1 archive rows) after 3 attempts (ServiceUnavailableException: slow down)',
    );
    expect(firehose.commandCalls(PutRecordBatchCommand)).toHaveLength(3);
  });

  it('accepts partitions that exist already and reports any other Glue error', async () => {
    glue
      .on(BatchCreatePartitionCommand)
      .resolvesOnce({
        Errors: [
          {
            PartitionValues: ['2014-08-01', 'redmi-1s'],
            ErrorDetail: { ErrorCode: 'AlreadyExistsException' },
          },
        ],
      })
      .resolves({
        Errors: [
          {
            PartitionValues: ['2014-08-09', 'mi-4'],
            ErrorDetail: { ErrorCode: 'EntityNotFoundException', ErrorMessage: 'table not found' },
          },
        ],
      });
    const partitions = new GluePartitions(new GlueClient({}), {
      database: 'db',
      table: 'flows',
      bucket: 'b',
    });
    await partitions.ensure([row(1, { dt: '2014-08-01', model: 'redmi-1s' })]);
    await expect(partitions.ensure([row(2, { dt: '2014-08-09', model: 'mi-4' })])).rejects.toThrow(
      'Glue did not add 1 archive partition(s) of db.flows: 2014-08-09/mi-4: EntityNotFoundException table not found',
    );
  });
});

describe('Athena queries', () => {
  beforeEach(() => {
    athena.reset();
  });

  it('lists the named queries of a workgroup, every page', async () => {
    athena
      .on(ListNamedQueriesCommand)
      .resolvesOnce({ NamedQueryIds: ['1', '2'], NextToken: 't' })
      .resolves({ NamedQueryIds: ['3'] });
    athena.on(BatchGetNamedQueryCommand).resolves({
      NamedQueries: [
        { Name: 'b', Database: 'd', QueryString: 'SELECT 2' },
        { Name: 'a', Database: 'd', QueryString: 'SELECT 1' },
      ],
    });
    const queries = await namedQueries(new AthenaClient({}), 'wg');
    expect(queries.map((q) => q.Name)).toEqual(['a', 'b']);
    expect(athena.commandCalls(BatchGetNamedQueryCommand)[0]!.args[0].input.NamedQueryIds).toEqual([
      '1',
      '2',
      '3',
    ]);
  });

  it('runs a query with literal parameters, waits for it and reads every page of the result', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q1' });
    athena
      .on(GetQueryExecutionCommand)
      .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
      .resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
    const columns = {
      ColumnInfo: [
        { Name: 'build', Type: 'varchar' },
        { Name: 'flows', Type: 'bigint' },
      ],
    };
    athena
      .on(GetQueryResultsCommand)
      .resolvesOnce({
        ResultSet: {
          ResultSetMetadata: columns,
          Rows: [
            { Data: [{ VarCharValue: 'build' }, { VarCharValue: 'flows' }] },
            { Data: [{ VarCharValue: 'B39' }, { VarCharValue: '2' }] },
          ],
        },
        NextToken: 'p2',
      })
      .resolves({
        ResultSet: { ResultSetMetadata: columns, Rows: [{ Data: [{ VarCharValue: 'B40' }, {}] }] },
      });

    const result = await runAthenaQuery(
      new AthenaClient({}),
      { sql: 'SELECT ?', workGroup: 'wg', database: 'db', params: ["O'Brien", '2014-08-01'] },
      { sleep: noWait },
    );

    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input).toEqual({
      QueryString: 'SELECT ?',
      WorkGroup: 'wg',
      QueryExecutionContext: { Database: 'db' },
      ExecutionParameters: ["'O''Brien'", "'2014-08-01'"],
    });
    expect(result.columns).toEqual(['build', 'flows']);
    expect(result.rows).toEqual([
      { build: 'B39', flows: 2 },
      { build: 'B40', flows: null },
    ]);
  });

  it("reports a failed query with Athena's reason", async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q2' });
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'TABLE_NOT_FOUND: flows' } },
    });
    const run = runAthenaQuery(
      new AthenaClient({}),
      { sql: 'SELECT 1', workGroup: 'wg', database: 'db', params: [] },
      { sleep: noWait },
    );
    await expect(run).rejects.toThrow(AthenaQueryError);
    await expect(run).rejects.toThrow('Athena query q2 failed: TABLE_NOT_FOUND: flows');
    expect(
      athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.ExecutionParameters,
    ).toBeUndefined();
  });
});
