import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './scenario.ts';

/**
 * The `leakwatch` command as a user runs it: the package's bin entry (bin/leakwatch.js, through
 * its shebang) as a subprocess, on the bundle `npm install`/`npm ci` built in dist/cli.
 * LEAKWATCH_BUNDLE_ONLY=1 makes the bin refuse to fall back to the TypeScript sources, so these
 * tests fail when the bundle lacks something the CLI loads at run time. test/globalSetup.mjs
 * rebuilds a stale bundle (after editing sources) with the script npm install runs.
 */
export const BIN = join(projectRoot, 'bin', 'leakwatch.js');
export const LAB_DEVICE = join(projectRoot, 'test', 'fixtures', 'lab-device');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  readonly timeoutMs?: number;
}

/** The environment of a lab host without AWS configuration (CI's may have some). */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LEAKWATCH_BUNDLE_ONLY: '1' };
  // jest's flags are not the user's; nor are AWS settings of the machine running the tests.
  for (const name of Object.keys(env))
    if (name === 'NODE_OPTIONS' || name.startsWith('AWS_') || name.startsWith('LEAKWATCH_DATA'))
      delete env[name];
  delete env.LEAKWATCH_SLACK_WEBHOOK;
  delete env.LEAKWATCH_CATALOG;
  delete env.LEAKWATCH_CONSENT_PROFILES;
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts the installed command; the caller reads its streams and waits for it. */
export function startLeakwatch(args: readonly string[], options: CliOptions = {}): ChildProcess {
  return spawn(BIN, [...args], {
    cwd: options.cwd ?? projectRoot,
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A started command whose output is collected as it comes. */
export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the installed command and collects its output (for commands a test stops itself). */
export function runningLeakwatch(args: readonly string[], options: CliOptions = {}): RunningCli {
  const child = startLeakwatch(args, options);
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    output += chunk.toString('utf8');
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    output += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, output: () => output, exited };
}

/** Runs the installed command to its end: exit code, signal, stdout and stderr. */
export async function leakwatch(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const running = runningLeakwatch(args, options);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    const { code, signal } = await running.exited;
    return { code, signal, stdout: running.stdout(), stderr: running.stderr() };
  } finally {
    clearTimeout(timer);
  }
}
