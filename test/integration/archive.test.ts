import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  AthenaClient,
  BatchGetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListNamedQueriesCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { archiveQueriesCommand, archiveQueryCommand } from '../../cli/archiveCommand.ts';
import { CliUsageError } from '../../cli/openStore.ts';
import { ARCHIVE_COLUMNS, ARCHIVE_PARTITION_KEYS } from '../../core/archive/archiveRow.ts';
import { parameterValues, SAVED_QUERIES, savedQuery } from '../../core/archive/savedQueries.ts';
import { duckdbType, LocalArchive, queryLocalArchive } from '../../local/localArchive.ts';
import { runLocalPipeline } from '../../local/localPipeline.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import { captureIo } from '../helpers/captureIo.ts';
import { SCENARIO_BUILDS, scenarioJob } from '../helpers/scenario.ts';

/**
 * The flow archive on the scenario's local run: Parquet files partitioned by day and model under
 * the data directory, the saved queries run on them with DuckDB, and the CLI on both sides.
 */
const quiet = () => undefined;
const [B38, B39, B40] = ['KHHCNBH38.0', 'KHHCNBH39.0', 'KHHCNBH40.0'];
const LEAKED = ['carrier-name', 'contact', 'imei', 'phone-number', 'sms-content'];

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('flow archive on the scenario', () => {
  let dataDir: string;
  let flowsCounted: number;
  let archived: number;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-archive-'));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));
    const result = await runLocalPipeline({
      dataDir,
      captures,
      registrations: [REGISTRATION],
      print: quiet,
      warn: quiet,
    });
    flowsCounted = result.lines.flatMap((l) => l.builds).reduce((n, b) => n + b.flows, 0);
    archived = result.archived;
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const run = (sql: string, params: string[] = []) => queryLocalArchive(dataDir, sql, params);

  it('writes Parquet files partitioned by day and model, one row per flow counted', async () => {
    const files = await filesUnder(join(dataDir, 'archive'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files)
      expect(file).toMatch(/^flows\/dt=2014-08-\d\d\/model=redmi-1s\/part-[0-9a-f-]+\.parquet$/);
    // Each build's session ran on its own day.
    expect(new Set(files.map((f) => f.split('/')[1]))).toEqual(
      new Set(['dt=2014-08-01', 'dt=2014-08-08', 'dt=2014-08-15']),
    );
    const { rows } = await run('SELECT COUNT(*) AS n, COUNT(DISTINCT flow_id) AS flows FROM flows');
    expect(archived).toBe(flowsCounted);
    expect(rows).toEqual([{ n: flowsCounted, flows: flowsCounted }]);
  });

  it('has the columns the Glue table declares, with the same types', async () => {
    const { rows } = await run('DESCRIBE flows');
    // (DuckDB quotes only the field names that are keywords; compared without quotes.)
    const unquoted = (type: unknown) => String(type).replaceAll('"', '');
    expect(rows.map((r) => [r.column_name, unquoted(r.column_type)])).toEqual(
      [...ARCHIVE_COLUMNS, ...ARCHIVE_PARTITION_KEYS].map((c) => [c.name, unquoted(duckdbType(c.type))]),
    );
  });

  it('keeps masked values and digests, never a registered value', async () => {
    const { rows } = await run('SELECT * FROM flows');
    const text = JSON.stringify(rows);
    for (const { value } of REGISTRATION.values) expect(text).not.toContain(value);
    const imei = rows
      .flatMap((r) => r.findings as { data_type: string; masked: string; digest: string }[])
      .find((f) => f.data_type === 'imei');
    expect(imei?.masked).toMatch(/•/);
    expect(imei?.digest).toMatch(/^[0-9a-f]{16,}$/);
  });

  it('data-by-build: the leaking build sent each planted item in plaintext, the builds around it none', async () => {
    const query = savedQuery('data-by-build');
    const { rows } = await run(query.sql, parameterValues(query, { model: 'RedMi 1S', since: '2014-08-01' }));
    expect(new Set(rows.map((r) => r.build))).toEqual(new Set([B39]));
    expect(rows.map((r) => r.data_type)).toEqual(LEAKED);
    for (const r of rows)
      expect(r).toMatchObject({
        line_name: 'MIUI-V5-CN-stable',
        encrypted_flows: 0,
        first_day: '2014-08-08',
      });
    expect(rows.every((r) => Number(r.plaintext_flows) > 0)).toBe(true);
    // Partition pruning by day: nothing after the last session.
    expect((await run(query.sql, ['redmi-1s', '2014-08-16'])).rows).toEqual([]);
  });

  it('fleet-to-country and device-days answer from the same files', async () => {
    const country = savedQuery('fleet-to-country');
    const toNowhere = await run(
      country.sql,
      parameterValues(country, { country: 'ZZ', since: '2014-01-01' }),
    );
    expect(toNowhere.rows.map((r) => r.data_type)).toEqual(LEAKED);
    expect(toNowhere.rows.every((r) => r.month === '2014-08' && r.model_name === 'RedMi 1S')).toBe(true);
    expect((await run(country.sql, ['CN', '2014-01-01'])).rows).toEqual([]);

    const device = savedQuery('device-days');
    const days = await run(
      device.sql,
      parameterValues(device, { device: 'lab-redmi1s-01', since: '2014-01-01' }),
    );
    expect(new Set(days.rows.map((r) => r.build))).toEqual(new Set([B38, B39, B40]));
    const flows = days.rows.reduce((n, r) => n + Number(r.flows), 0);
    expect(flows).toBe(flowsCounted);
    expect(days.rows.filter((r) => Number(r.flows_with_personal_data) > 0).map((r) => r.build)).toEqual([
      B39,
    ]);
  });

  it('converts a spool an interrupted run left behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-spool-'));
    try {
      const { rows } = await run("SELECT * FROM flows WHERE build = 'KHHCNBH40.0' LIMIT 1");
      const spooled = { ...rows[0], flow_id: 'f'.repeat(32), dt: '2014-09-01' };
      await mkdir(join(dir, 'archive', 'incoming'), { recursive: true });
      await writeFile(join(dir, 'archive', 'incoming', '1-left.ndjson'), `${JSON.stringify(spooled)}\n`);
      const archive = new LocalArchive(LocalArchive.dirOf(dir));
      expect(await archive.recover()).toBe(1);
      await archive.close();
      expect(await filesUnder(join(dir, 'archive'))).toEqual([
        expect.stringMatching(/^flows\/dt=2014-09-01\/model=redmi-1s\/part-.*\.parquet$/),
      ]);
      const back = await queryLocalArchive(dir, 'SELECT flow_id, build FROM flows', []);
      expect(back.rows).toEqual([{ flow_id: 'f'.repeat(32), build: B40 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('leakwatch archive (local)', () => {
    it('lists the saved queries', async () => {
      const io = captureIo();
      expect(await archiveQueriesCommand({ json: true }, io.io)).toBe(0);
      expect(JSON.parse(io.out()).map((q: { name: string }) => q.name)).toEqual(
        SAVED_QUERIES.map((q) => q.name),
      );
    });

    it('runs a saved query: a table, or JSON', async () => {
      const io = captureIo();
      const options = { dataDir, param: ['model=RedMi 1S', 'since=2014-08-01'] };
      expect(await archiveQueryCommand('data-by-build', options, io.io)).toBe(0);
      const lines = io.out().trim().split('\n');
      expect(lines[0]).toBe(
        'line_name\tbuild\tdata_type\tplaintext_flows\tencrypted_flows\tfirst_day\tlast_day',
      );
      expect(lines).toHaveLength(1 + LEAKED.length);
      const json = captureIo();
      expect(await archiveQueryCommand('data-by-build', { ...options, json: true }, json.io)).toBe(0);
      expect(JSON.parse(json.out())[0]).toMatchObject({ build: B39, data_type: 'carrier-name' });
    });

    it('says what is wrong with a bad question (usage error) or an empty archive (exit 1)', async () => {
      const { io } = captureIo();
      await expect(archiveQueryCommand('nope', { dataDir }, io)).rejects.toThrow(CliUsageError);
      await expect(archiveQueryCommand('data-by-build', { dataDir, param: ['since'] }, io)).rejects.toThrow(
        '--param "since": name=value, e.g. --param since=2014-08-01',
      );
      await expect(
        archiveQueryCommand('data-by-build', { dataDir, param: ['model=x', 'since=yesterday'] }, io),
      ).rejects.toThrow('--param since=yesterday: a day as yyyy-MM-dd');
      const empty = await mkdtemp(join(tmpdir(), 'leakwatch-empty-'));
      try {
        // A directory without a store is a usage error (a mistyped --data-dir), not an empty answer.
        await expect(
          archiveQueryCommand(
            'data-by-build',
            { dataDir: empty, param: ['model=x', 'since=2014-01-01'] },
            io,
          ),
        ).rejects.toThrow(/holds no leakwatch store \(no dynamodb\/ in it\)/);
        await mkdir(join(empty, 'dynamodb'));
        const emptyIo = captureIo();
        expect(
          await archiveQueryCommand(
            'data-by-build',
            { dataDir: empty, param: ['model=x', 'since=2014-01-01'] },
            emptyIo.io,
          ),
        ).toBe(1);
        expect(emptyIo.err()).toMatch(/the local archive \(.*\) has no flows yet: run npm start/);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    });
  });

  describe('leakwatch archive --stack (Athena)', () => {
    const cloudFormation = mockClient(CloudFormationClient);
    const athena = mockClient(AthenaClient);
    const deps = { athena: () => new AthenaClient({}), cloudFormation: () => new CloudFormationClient({}) };

    beforeAll(() => {
      cloudFormation.on(DescribeStacksCommand).resolves({
        Stacks: [
          {
            StackName: 'lab',
            CreationTime: new Date(),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [
              { OutputKey: 'ArchiveWorkGroup', OutputValue: 'lab-archive' },
              { OutputKey: 'ArchiveDatabase', OutputValue: 'lab_archive' },
            ],
          },
        ],
      });
      athena.on(ListNamedQueriesCommand).resolves({ NamedQueryIds: ['n1'] });
      const query = savedQuery('fleet-to-country');
      athena.on(BatchGetNamedQueryCommand).resolves({
        NamedQueries: [
          {
            Name: query.name,
            Description: query.description,
            Database: 'lab_archive',
            QueryString: query.sql,
          },
        ],
      });
      athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
      athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      athena.on(GetQueryResultsCommand).resolves({
        ResultSet: {
          ResultSetMetadata: {
            ColumnInfo: [
              { Name: 'month', Type: 'varchar' },
              { Name: 'flows', Type: 'bigint' },
            ],
          },
          Rows: [
            { Data: [{ VarCharValue: 'month' }, { VarCharValue: 'flows' }] },
            { Data: [{ VarCharValue: '2026-11' }, { VarCharValue: '7' }] },
          ],
        },
      });
    });

    afterAll(() => {
      cloudFormation.restore();
      athena.restore();
    });

    it("runs the stack's named query in its workgroup and database, parameters checked and quoted", async () => {
      const io = captureIo();
      const options = { stack: 'lab', json: true, param: ['country=CN', 'since=2026-01-01'] };
      expect(await archiveQueryCommand('fleet-to-country', options, io.io, deps)).toBe(0);
      expect(JSON.parse(io.out())).toEqual([{ month: '2026-11', flows: 7 }]);
      expect(athena.commandCalls(ListNamedQueriesCommand)[0]!.args[0].input.WorkGroup).toBe('lab-archive');
      expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input).toMatchObject({
        WorkGroup: 'lab-archive',
        QueryExecutionContext: { Database: 'lab_archive' },
        ExecutionParameters: ["'CN'", "'2026-01-01'"],
        QueryString: savedQuery('fleet-to-country').sql,
      });
      await expect(archiveQueryCommand('nope', { stack: 'lab' }, captureIo().io, deps)).rejects.toThrow(
        'no named query "nope" in the Athena workgroup lab-archive',
      );
      const listed = captureIo();
      expect(await archiveQueriesCommand({ stack: 'lab', json: true }, listed.io, deps)).toBe(0);
      expect(JSON.parse(listed.out())).toEqual([
        expect.objectContaining({
          name: 'fleet-to-country',
          parameters: 'country=<country> since=<yyyy-MM-dd>',
        }),
      ]);
    });
  });
});
