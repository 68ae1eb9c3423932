import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REPEAT_NOTE } from '../../core/notify/incident.ts';
import { leakwatch } from '../helpers/installedCli.ts';
import { SlackStandIn } from '../helpers/slackStandIn.ts';
import { seededRandom } from '../helpers/testEvents.ts';

/**
 * `leakwatch run` (what `npm start` runs) killed with SIGKILL at any point and run again delivers
 * each notification exactly once per channel (issue 20, item 8). The installed command counts its
 * *steps* — every DynamoDB write and Kinesis put answered, every channel's message sent, the
 * moments after the outside world changed and before the process acted on it — and kills itself at
 * the Nth when LEAKWATCH_FAULT_KILL_AT_STEP=N (local/faultPoints.ts). A clean run lists its steps;
 * the test kills a run at each step that sends or records a send, and at a seeded sample of the
 * others, runs it again, and compares with the clean run: the outbox file (the console/SNS stand-in)
 * and a Slack app (a stand-in of its Web API, with conversations.history and .replies) each told
 * every alert event exactly once, in the same threads; the same alerts in the same states.
 */

/** Every alert event in the outbox file, with how often it is there. */
async function outboxEvents(dataDir: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const file = join(dataDir, 'alerts-outbox.jsonl');
  if (!existsSync(file)) return counts;
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line.startsWith('{')) continue;
    for (const id of (JSON.parse(line) as { events: string[] }).events) counts[id] = (counts[id] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

async function alertStates(dataDir: string): Promise<string[]> {
  const result = await leakwatch(['alerts', '--json', '--data-dir', dataDir]);
  expect(result.code).toBe(0);
  return (
    JSON.parse(result.stdout) as { alertId: string; state: string; build: string; resolvedIn?: string }[]
  )
    .map((a) => `${a.alertId} ${a.build} ${a.state} ${a.resolvedIn ?? '-'}`)
    .sort();
}

/** A seeded choice (mulberry32): the same steps on every run, a failing one replayable. */
function sample<T>(items: readonly T[], count: number, seed: number): T[] {
  const random = seededRandom(seed);
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0)
    out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
  return out;
}

describe('killed at any step and run again, local mode tells each alert once per channel', () => {
  const slack = new SlackStandIn();
  let work: string;
  let env: Record<string, string>;
  const run = (dataDir: string, extra: Record<string, string> = {}) =>
    leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
      env: { ...env, ...extra },
      timeoutMs: 120_000,
    });
  let steps: string[];
  let reference: { outbox: Record<string, number>; slack: string[]; alerts: string[] };

  beforeAll(async () => {
    await slack.start();
    work = await mkdtemp(join(tmpdir(), 'leakwatch-kill-'));
    env = {
      LEAKWATCH_SLACK_TOKEN: 'xoxb-kill-test',
      LEAKWATCH_SLACK_CHANNEL: 'C0KILLTEST',
      LEAKWATCH_SLACK_API: `${slack.url}/api/chat.postMessage`,
    };
    const dataDir = join(work, 'clean');
    const stepsFile = join(work, 'steps.txt');
    const clean = await run(dataDir, { LEAKWATCH_FAULT_STEPS_FILE: stepsFile });
    expect(clean.code).toBe(0);
    steps = (await readFile(stepsFile, 'utf8')).trim().split('\n').slice(1);
    reference = {
      outbox: await outboxEvents(dataDir),
      slack: slack.told(),
      alerts: await alertStates(dataDir),
    };
  }, 120_000);

  afterAll(async () => {
    await slack.close();
    await rm(work, { recursive: true, force: true });
  });

  it('the clean run has the steps to kill at, and told every event once on each channel', () => {
    expect(steps.filter((s) => / sent /.test(s)).map((s) => s.split(' ')[1])).toEqual([
      'sns',
      'slack',
      'sns',
      'slack',
    ]);
    expect(Object.values(reference.outbox)).toHaveLength(30);
    expect(Object.values(reference.outbox).every((n) => n === 1)).toBe(true);
    expect(reference.slack).toHaveLength(2);
    expect(reference.slack[1]).toContain('reply to message 0');
  });

  it('killed at each send, at the writes around it, and at 12 other steps: exactly once after the rerun', async () => {
    const numbers = steps.map((s) => Number(s.split(' ')[0]));
    const sends = steps.flatMap((s, i) => (/ sent /.test(s) ? [i] : []));
    // Each send, the write before it (the attempt recorded) and after it (the send recorded).
    const around = new Set(sends.flatMap((i) => [i - 1, i, i + 1]).filter((i) => i >= 0 && i < steps.length));
    const others = numbers.filter((_, i) => !around.has(i));
    // KILL_STEPS=46,46 replays chosen steps (a failure names its step).
    const points = process.env.KILL_STEPS
      ? process.env.KILL_STEPS.split(',').map(Number)
      : [...[...around].map((i) => numbers[i]!), ...sample(others, 12, 20)].sort((a, b) => a - b);
    const failures: string[] = [];
    for (const step of points) {
      slack.reset();
      const dataDir = join(work, `kill-${step}`);
      const killed = await run(dataDir, { LEAKWATCH_FAULT_KILL_AT_STEP: String(step) });
      expect({ step, signal: killed.signal }).toEqual({ step, signal: 'SIGKILL' });
      const again = await run(dataDir);
      expect({ step, code: again.code, stderr: again.stderr }).toEqual({ step, code: 0, stderr: '' });
      const got = {
        outbox: await outboxEvents(dataDir),
        slack: slack.told(),
        alerts: await alertStates(dataDir),
      };
      for (const part of ['outbox', 'slack', 'alerts'] as const)
        if (JSON.stringify(got[part]) !== JSON.stringify(reference[part]))
          failures.push(
            `step ${step} (${steps[numbers.indexOf(step)]}): ${part} ${JSON.stringify(got[part])}, not ${JSON.stringify(reference[part])}`,
          );
      await rm(dataDir, { recursive: true, force: true });
    }
    expect(failures).toEqual([]);
    if (!process.env.KILL_STEPS) expect(points.length).toBeGreaterThanOrEqual(20);
  }, 600_000);

  it('an incoming webhook cannot be asked what arrived: killed after it sent, the message goes again saying it may repeat', async () => {
    const hookEnv = { LEAKWATCH_SLACK_WEBHOOK: `${slack.url}/hook` };
    const unset = {
      LEAKWATCH_SLACK_TOKEN: undefined,
      LEAKWATCH_SLACK_CHANNEL: undefined,
      LEAKWATCH_SLACK_API: undefined,
    };
    const stepOfSlack = steps.find((s) => / slack sent /.test(s))!.split(' ')[0]!;
    slack.reset();
    const dataDir = join(work, 'webhook');
    const killed = await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
      env: { ...unset, ...hookEnv, LEAKWATCH_FAULT_KILL_AT_STEP: stepOfSlack },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(slack.hooks).toHaveLength(1);
    expect(slack.hooks[0]).not.toContain(REPEAT_NOTE);
    const again = await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
      env: { ...unset, ...hookEnv },
    });
    expect(again.code).toBe(0);
    // The opening message again, marked; the resolution once, unmarked.
    expect(slack.hooks).toHaveLength(3);
    expect(slack.hooks[1]).toContain(REPEAT_NOTE);
    expect(slack.hooks[2]).not.toContain(REPEAT_NOTE);
    expect(Object.values(await outboxEvents(dataDir)).every((n) => n === 1)).toBe(true);
  }, 120_000);
});
