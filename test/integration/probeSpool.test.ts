import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureStream, type LocalEmulators, startEmulators } from '../../local/emulators.ts';
import { EXIT, probeCommand } from '../../probe/probeCommand.ts';
import { Spool } from '../../probe/sinks/spool.ts';
import { projectRoot } from '../helpers/scenario.ts';

/**
 * A probe cut off from Kinesis: what the stream refuses is spooled to disk, in order; the next run
 * (or --send-spool) sends the spool first when the stream is back. Nothing is lost or reordered.
 */
const capture = (n: number) => join(projectRoot, 'scenario', 'captures', `build-${n}.pcap`);
const lab = (n: number) => join(projectRoot, 'scenario', 'lab', `build-${n}.json`);

async function run(captures: string[], options: Parameters<typeof probeCommand>[1]) {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (chunk) => (text += chunk));
  const code = await probeCommand(captures, options, {
    stdin: new PassThrough(),
    stdout: new PassThrough(),
    stderr,
  });
  return { code, stderr: text };
}

/** A port nothing listens on: connections are refused at once. */
async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('leakwatch probe with the stream unreachable', () => {
  let emulators: LocalEmulators;
  let spoolDir: string;
  const stream = 'spool-test-flows';

  beforeAll(async () => {
    // The probe uses the AWS credential chain; the emulator takes any credentials.
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    emulators = await startEmulators(null);
    await ensureStream(emulators.kinesis, stream, 1);
    spoolDir = await mkdtemp(join(tmpdir(), 'leakwatch-spool-'));
  });
  afterAll(async () => {
    await emulators.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  async function onStream(): Promise<{ kind: string; build: string; flow?: string }[]> {
    const { Shards } = await emulators.kinesis.send(new ListShardsCommand({ StreamName: stream }));
    const { ShardIterator } = await emulators.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: Shards![0]!.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const { Records = [] } = await emulators.kinesis.send(
      new GetRecordsCommand({ ShardIterator: ShardIterator!, Limit: 10000 }),
    );
    return Records.map((r) => {
      const record = JSON.parse(Buffer.from(r.Data!).toString());
      return {
        kind: record.kind ?? 'flow',
        build: record.firmware.build,
        ...(record.flow ? { flow: record.flow.id } : {}),
      };
    });
  }

  it('spools every record of a run it could not send, and exits 75 saying where', async () => {
    const { code, stderr } = await run([capture(1)], {
      labConfig: lab(1),
      kinesisStream: stream,
      endpoint: await deadEndpoint(),
      awsRegion: 'us-east-1',
      spoolDir,
      putAttempts: 2,
    });

    expect(code).toBe(EXIT.spooled);
    expect(stderr).toContain(`stream unreachable`);
    expect(stderr).toMatch(
      new RegExp(`(\\d+) records \\(flow and session-end\\) are spooled in ${spoolDir}`),
    );
    const spooled = await new Spool(spoolDir).size();
    expect(spooled).toBeGreaterThan(1);
    expect(await onStream()).toEqual([]);
  }, 60_000);

  it('sends the spool first when the stream is back, then the new run, in order', async () => {
    const spooled = await new Spool(spoolDir).size();
    const { code } = await run([capture(2)], {
      labConfig: lab(2),
      kinesisStream: stream,
      endpoint: emulators.kinesisEndpoint,
      awsRegion: 'us-east-1',
      spoolDir,
    });

    expect(code).toBe(EXIT.ok);
    expect(await new Spool(spoolDir).files()).toEqual([]);
    const records = await onStream();
    const builds = records.map((r) => r.build);
    const first = builds.slice(0, spooled);
    // Build 1's records (spooled), its session end last; then build 2's, its session end last.
    expect(new Set(first)).toEqual(new Set([builds[0]]));
    expect(records[spooled - 1]!.kind).toBe('session-end');
    expect(records.at(-1)!.kind).toBe('session-end');
    expect(new Set(builds.slice(spooled))).toEqual(new Set([records.at(-1)!.build]));
    expect(new Set(records.filter((r) => r.flow).map((r) => r.flow)).size).toBe(
      records.filter((r) => r.flow).length,
    );
  }, 60_000);

  it('--send-spool sends a spool left behind, and says what is left when it cannot', async () => {
    const dead = await deadEndpoint();
    const options = { kinesisStream: stream, awsRegion: 'us-east-1', spoolDir };
    expect(
      (await run([capture(3)], { ...options, labConfig: lab(3), endpoint: dead, putAttempts: 1 })).code,
    ).toBe(EXIT.spooled);
    const before = (await onStream()).length;
    const spooled = await new Spool(spoolDir).size();

    const stillDown = await run([], { ...options, endpoint: dead, sendSpool: true, putAttempts: 1 });
    expect(stillDown.code).toBe(EXIT.spooled);
    expect(stillDown.stderr).toContain(`${spooled} records still spooled in ${spoolDir}`);

    const back = await run([], { ...options, endpoint: emulators.kinesisEndpoint, sendSpool: true });
    expect(back.code).toBe(EXIT.ok);
    expect(back.stderr).toContain(`${spooled} spooled records put on stream ${stream}; the spool is empty`);
    const records = await onStream();
    expect(records.length - before).toBe(spooled);
    expect(records.at(-1)!.kind).toBe('session-end');

    const usage = await run([capture(3)], { ...options, sendSpool: true });
    expect(usage.code).toBe(EXIT.usage);
    expect(usage.stderr).toContain('--send-spool sends the spool only');
  }, 60_000);
});
