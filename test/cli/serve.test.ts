import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type CliResult, leakwatch, runningLeakwatch } from '../helpers/installedCli.ts';
import { projectRoot } from '../helpers/scenario.ts';
import { SlackStandIn } from '../helpers/slackStandIn.ts';

/**
 * `leakwatch serve` as installed, with probes in other processes streaming the Mi Box S fixture
 * into it: the same history and alerts as `leakwatch run`, the history commands reading the store
 * while serve runs, a clean stop on SIGINT/SIGTERM, and a restart after kill -9 (inside a DynamoDB
 * transaction, and while a probe was streaming) that loses and duplicates nothing.
 */
const F = 'test/fixtures/lab-device';
const CAPTURES = [`${F}/mibox-build-1.pcapng`, `${F}/mibox-build-2.pcap.gz`, `${F}/mibox-build-3.pcapng`];
const STREAM = 'leakwatch-flows-local';

interface Serve {
  readonly child: ChildProcess;
  readonly endpoint: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startServe(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Serve> {
  const serve = runningLeakwatch(
    ['serve', '--data-dir', dataDir, '--port', String(port), '--register', `${F}/lab/registration.json`],
    { env },
  );
  const out = serve.output;
  const endpoint = await waitFor(
    `serve's banner`,
    async () => /Kinesis endpoint (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1],
    20_000,
    out,
  );
  return { child: serve.child, endpoint, output: out, exited: serve.exited };
}

async function waitFor<T>(
  what: string,
  value: () => Promise<T | undefined>,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await value();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await delay(200);
  }
}

/** The probe's flags to stream a build into serve (its spool in `spool`). */
const probeFlags = (endpoint: string, build: number, spool: string) => [
  'probe',
  '--kinesis-endpoint',
  endpoint,
  '--kinesis-stream',
  STREAM,
  '--spool-dir',
  spool,
  '--lab-config',
  `${F}/lab/build-${build}.json`,
];

const probe = (endpoint: string, build: number, spool: string, home: string): Promise<CliResult> =>
  leakwatch([...probeFlags(endpoint, build, spool), CAPTURES[build - 1]!], { env: { HOME: home } });

/** A live probe (pcap over TCP) fed the build's capture over a connection, then stopped with SIGINT. */
async function liveProbe(endpoint: string, build: number, spool: string, home: string): Promise<CliResult> {
  const free = createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const port = (free.address() as AddressInfo).port;
  await new Promise((resolve) => free.close(resolve));
  const live = runningLeakwatch(
    [...probeFlags(endpoint, build, spool), '--listen', `tcp://127.0.0.1:${port}`],
    {
      env: { HOME: home },
    },
  );
  await waitFor(
    'the live probe to listen',
    async () => (live.stderr().includes('listening on') ? true : undefined),
    20_000,
    live.stderr,
  );
  const capture = gunzipSync(await readFile(join(projectRoot, CAPTURES[build - 1]!)));
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(capture));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  await delay(500);
  live.child.kill('SIGINT');
  const { code, signal } = await live.exited;
  return { code, signal, stdout: live.stdout(), stderr: live.stderr() };
}

interface AlertRow {
  rule: string;
  dataType: string;
  subject: string;
  build: string;
  state: string;
  resolvedIn?: string;
  alertId: string;
}
/** The history as the CLI reads it: alerts (without times) and each build's flows. */
async function history(dataDir: string) {
  const alerts = JSON.parse(
    (await leakwatch(['alerts', '--json', '--data-dir', dataDir])).stdout,
  ) as AlertRow[];
  const builds = JSON.parse(
    (await leakwatch(['builds', '--line', 'PatchWall-9-intl', '--json', '--data-dir', dataDir])).stdout,
  ) as {
    items: { build: string; flows: number; sessions: number }[];
  };
  return {
    alerts: alerts
      .map(
        (a) =>
          `${a.alertId} ${a.rule}/${a.dataType}/${a.subject} ${a.build} ${a.state} ${a.resolvedIn ?? '-'}`,
      )
      .sort(),
    builds: builds.items.map((b) => `${b.build} flows ${b.flows} sessions ${b.sessions}`),
  };
}
const settled = async (dataDir: string) => {
  const result = await leakwatch(['alerts', '--json', '--data-dir', dataDir]);
  if (result.code !== 0) return undefined;
  const alerts = JSON.parse(result.stdout) as AlertRow[];
  return alerts.length === 9 && alerts.every((a) => a.state === 'resolved') ? alerts : undefined;
};
const outboxIds = async (dataDir: string) =>
  (await readFile(join(dataDir, 'alerts-outbox.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .flatMap((line) =>
      (JSON.parse(line).events as string[]).map((id) => `${JSON.parse(line).notificationId} ${id}`),
    )
    .sort();

describe('leakwatch serve', () => {
  let work: string;
  let reference: Awaited<ReturnType<typeof history>>;
  let referenceOutbox: string[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'leakwatch-serve-'));
    const dataDir = join(work, 'reference');
    const run = await leakwatch([
      'run',
      '--data-dir',
      dataDir,
      '--register',
      `${F}/lab/registration.json`,
      ...[1, 2, 3].flatMap((b) => ['--lab-config', `${F}/lab/build-${b}.json`, CAPTURES[b - 1]!]),
    ]);
    if (run.code !== 0) throw new Error(`run exited ${run.code}\n${run.stdout}\n${run.stderr}`);
    reference = await history(dataDir);
    referenceOutbox = await outboxIds(dataDir);
    expect(reference.alerts).toHaveLength(9);
    expect(referenceOutbox).toHaveLength(18);
  }, 60_000);
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('takes probes from other processes, gives the same alerts as run, answers history commands while running, stops on SIGINT and resumes', async () => {
    const dataDir = join(work, 'live');
    const serve = await startServe(dataDir, 0);
    try {
      expect(serve.output()).toContain(
        `leakwatch probe --kinesis-endpoint ${serve.endpoint} --kinesis-stream ${STREAM}`,
      );
      const file = async (build: number) => {
        const sent = await probe(serve.endpoint, build, join(work, 'spool-live'), work);
        expect({ build, code: sent.code, stderr: sent.stderr }).toEqual({
          build,
          code: 0,
          stderr: expect.stringContaining('flow records put on stream'),
        });
      };
      await file(1);
      // Build 2 arrives live: a probe listening for pcap over TCP (as tcpdump -w - | nc sends it)
      // streams into serve until it is stopped.
      const live = await liveProbe(serve.endpoint, 2, join(work, 'spool-live'), work);
      expect(live).toMatchObject({ code: 0 });
      expect(live.stderr).toMatch(/SIGINT: stopped; 32 packets, 6 flows; 6 flow records sent/);
      await file(3);
      // Read through the running serve (it holds the store).
      await waitFor('all alerts resolved', () => settled(dataDir), 30_000, serve.output);
      expect(await history(dataDir)).toEqual(reference);
      expect(serve.output()).toContain(
        'ALERT HIGH Mi Box S MBS-9.0.3.0 sends Wi-Fi MAC address, Android ID, advertising ID to Xiaomi',
      );
      const busy = await leakwatch([
        'run',
        '--data-dir',
        dataDir,
        '--lab-config',
        `${F}/lab/build-1.json`,
        CAPTURES[0]!,
      ]);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toMatch(
        /is in use by leakwatch serve \(pid \d+, since .*\): stream captures into it with leakwatch probe --kinesis-endpoint/,
      );
    } finally {
      serve.child.kill('SIGINT');
    }
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    expect(serve.output()).toMatch(/SIGINT: stopped after 19 records/);
    // Build 2's incident and build 3's resolution; a live probe's flows can reach ingest in more
    // than one batch, and an alert raised by a later batch is told as a follow-up of its incident.
    const messages = Number(
      /notifications to console and outbox \(SNS stand-in\): (\d+) delivered this run/.exec(
        serve.output(),
      )?.[1],
    );
    expect(messages).toBeGreaterThanOrEqual(2);
    expect(messages).toBeLessThanOrEqual(9);
    expect(existsSync(join(dataDir, 'in-use.json'))).toBe(false);
    expect(await outboxIds(dataDir)).toEqual(referenceOutbox);

    // A restart goes on after what was processed: nothing is ingested again.
    const again = await startServe(dataDir, 0);
    await delay(1500);
    again.child.kill('SIGTERM');
    expect(await again.exited).toEqual({ code: 0, signal: null });
    expect(again.output()).toMatch(/SIGTERM: stopped after 0 records/);
    expect(await history(dataDir)).toEqual(reference);
  }, 120_000);

  it('killed -9 between two item writes, inside a transaction and while a probe streams: restarted, it loses and duplicates nothing', async () => {
    const dataDir = join(work, 'crash');
    const spool = join(work, 'spool-crash');
    // The process kills itself after its third item write of build 1's batch: counts half written.
    const first = await startServe(dataDir, 0, { LEAKWATCH_FAULT_KILL_AFTER_ITEM_WRITES: '3' });
    const port = Number(new URL(first.endpoint).port);
    expect((await probe(first.endpoint, 1, spool, work)).code).toBe(0);
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(join(dataDir, 'in-use.json'))).toBe(true); // left by the dead process

    // While serve is down a probe streams build 2: it spools what the endpoint refuses (exit 75).
    const down = await probe(first.endpoint, 2, spool, work);
    expect(down.code).toBe(75);
    expect(down.stderr).toContain(`are spooled in ${spool}`);

    // Restarted, it finishes build 1's batch; build 2's alerts are written in transactions (an
    // alert, its id and its notification): it kills itself inside the first of them.
    const middle = await startServe(dataDir, port, { LEAKWATCH_FAULT_KILL_IN_TRANSACTION: '1' });
    const resent = await leakwatch(
      [
        'probe',
        '--send-spool',
        '--kinesis-endpoint',
        middle.endpoint,
        '--kinesis-stream',
        STREAM,
        '--spool-dir',
        spool,
      ],
      { env: { HOME: work } },
    );
    expect(resent.code).toBe(0);
    expect(await middle.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const journal = await readdir(join(dataDir, 'dynamodb-journal'));
    expect(journal).toHaveLength(1); // the transaction it died in

    const second = await startServe(dataDir, port);
    try {
      // Restored at start (serve may already be journalling transactions of its own by now).
      expect(await readdir(join(dataDir, 'dynamodb-journal'))).not.toContain(journal[0]);
      expect((await probe(second.endpoint, 3, spool, work)).code).toBe(0);
      await waitFor('all alerts resolved', () => settled(dataDir), 30_000, second.output);
      expect(await history(dataDir)).toEqual(reference);
    } finally {
      second.child.kill('SIGINT');
    }
    expect((await second.exited).code).toBe(0);
    expect(await outboxIds(dataDir)).toEqual(referenceOutbox);
  }, 180_000);

  it('killed -9 right after Slack answered, twice (a Slack app): each restart asks the channel and nothing is posted twice', async () => {
    const slack = new SlackStandIn();
    await slack.start();
    const env = {
      LEAKWATCH_SLACK_TOKEN: 'xoxb-serve-test',
      LEAKWATCH_SLACK_CHANNEL: 'C0SERVETEST',
      LEAKWATCH_SLACK_API: `${slack.url}/api/chat.postMessage`,
    };
    const spool = join(work, 'spool-slack');
    const streamed = async (serve: Serve, build: number) =>
      expect((await probe(serve.endpoint, build, spool, work)).code).toBe(0);
    /** Every alert event in the outbox file and both messages in Slack. */
    const delivered = (dataDir: string) => async () =>
      existsSync(join(dataDir, 'alerts-outbox.jsonl')) &&
      (await outboxIds(dataDir)).length === 18 &&
      slack.messages.length >= 2
        ? true
        : undefined;
    try {
      // The reference: serve to the end with the Slack app.
      const clean = join(work, 'slack-clean');
      const first = await startServe(clean, 0, env);
      for (const build of [1, 2, 3]) await streamed(first, build);
      await waitFor('delivered', delivered(clean), 30_000, first.output);
      first.child.kill('SIGINT');
      expect((await first.exited).code).toBe(0);
      const reference = slack.told();
      expect(reference).toHaveLength(2);
      expect(reference[1]).toContain('reply to message 0');

      // Killed right after Slack answered the incident's message, then after it answered the
      // resolution (a reply in the thread); the third serve finds both in the channel.
      slack.reset();
      const dataDir = join(work, 'slack-killed');
      const killed = { LEAKWATCH_FAULT_KILL_AT_STEP: 'slack sent' };
      const a = await startServe(dataDir, 0, { ...env, ...killed });
      await streamed(a, 1);
      await streamed(a, 2);
      expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(slack.messages).toHaveLength(1);
      const b = await startServe(dataDir, 0, { ...env, ...killed });
      await streamed(b, 3);
      expect(await b.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(slack.messages).toHaveLength(2);
      const c = await startServe(dataDir, 0, env);
      await waitFor('delivered', delivered(dataDir), 30_000, c.output);
      await delay(1500); // a send that should not happen would come now
      c.child.kill('SIGINT');
      expect((await c.exited).code).toBe(0);
      expect(slack.told()).toEqual(reference);
      expect(await outboxIds(dataDir)).toEqual(referenceOutbox);
      expect(await history(dataDir)).toEqual(await history(clean));
    } finally {
      await slack.close();
    }
  }, 180_000);
});
