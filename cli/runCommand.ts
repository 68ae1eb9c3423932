import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigFileError, parseConfigText } from '../core/config/strictParse.ts';
import { type Registration, readRegistrationFile } from '../core/registry/registrationFile.ts';
import type { LeakwatchStore } from '../core/store/leakwatchStore.ts';
import type { CaptureJob, LocalPipelineResult } from '../local/localPipeline.ts';
import { CaptureFormatError, ProbeUsageError } from '../probe/errors.ts';
import { loadLabContext } from '../probe/labContext.ts';
import { checkCaptureReadable } from '../probe/probeCapture.ts';
import { EXIT } from '../probe/probeCommand.ts';
import type { TlsKeyLog } from '../probe/tls/keyLog.ts';
import { readKeyLogs } from '../probe/tls/readKeyLogs.ts';
import type { CliIo } from './openStore.ts';
import { type LocalSlackSettings, SlackSettingsError, slackSettingsFromEnv } from './slackSettings.ts';
import { dataDirOf } from './stackOutputs.ts';

/**
 * A run manifest: a lab's builds 1..N in one file, each lab config with its captures, and the
 * registrations to add first. Paths are relative to the manifest.
 */
export const RunManifestSchema = z.strictObject({
  $comment: z.string().optional(),
  registrations: z.array(z.string().min(1)).optional(),
  /** NSS key logs whose secrets decrypt the captures' TLS flows (as --keylog). */
  keylogs: z.array(z.string().min(1)).optional(),
  runs: z
    .array(
      z.strictObject({
        labConfig: z.string().min(1),
        captures: z.array(z.string().min(1)).min(1, 'a run needs at least one capture'),
      }),
    )
    .min(1, 'no runs: list { "labConfig": …, "captures": [ … ] } for each session'),
});

/** One session of a run: a lab config and the captures it describes. */
export interface RunSession {
  readonly labConfig: string;
  readonly captures: string[];
}

export interface RunPlan {
  readonly sessions: RunSession[];
  readonly registrations: string[];
  /** Key logs (the manifest's, then --keylog's). */
  readonly keylogs: string[];
}

export class RunUsageError extends Error {
  override name = 'RunUsageError';
}

/**
 * The sessions of `leakwatch run`'s arguments: each capture belongs to the `--lab-config` before it
 * (`--lab-config a.json a.pcap --lab-config b.json b.pcap b2.har`), after the manifest's runs.
 */
export async function planRun(args: readonly string[], manifest?: string): Promise<RunPlan> {
  const plan: RunPlan = { sessions: [], registrations: [], keylogs: [] };
  if (manifest) {
    let text: string;
    try {
      text = await readFile(manifest, 'utf8');
    } catch (error) {
      throw new RunUsageError(`cannot read manifest ${manifest}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const parsed = parseConfigText(RunManifestSchema, text, 'run manifest', manifest);
    const base = dirname(resolve(manifest));
    // Shown as the user would write them: relative to the working directory when inside it.
    const near = (path: string) => {
      const full = resolve(base, path);
      const shown = relative(process.cwd(), full);
      return shown.startsWith('..') || isAbsolute(shown) ? full : shown;
    };
    for (const run of parsed.runs)
      plan.sessions.push({
        labConfig: near(run.labConfig),
        captures: run.captures.map(near),
      });
    for (const path of parsed.registrations ?? []) plan.registrations.push(near(path));
    for (const path of parsed.keylogs ?? []) plan.keylogs.push(near(path));
  }
  const { tokens } = parseArgs({
    args: [...args],
    options: {
      'lab-config': { type: 'string', multiple: true },
      register: { type: 'string', multiple: true },
      keylog: { type: 'string', multiple: true },
      manifest: { type: 'string' },
      'data-dir': { type: 'string' },
      'consent-profiles': { type: 'string' },
      catalog: { type: 'string' },
      // check's: taken here only so that their values are not read as captures
      baseline: { type: 'string' },
      junit: { type: 'string' },
      sarif: { type: 'string' },
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  let current: RunSession | undefined;
  for (const token of tokens) {
    if (token.kind === 'option' && token.name === 'lab-config') {
      current = { labConfig: String(token.value), captures: [] };
      plan.sessions.push(current);
    } else if (token.kind === 'option' && token.name === 'register') {
      plan.registrations.push(String(token.value));
    } else if (token.kind === 'option' && token.name === 'keylog') {
      plan.keylogs.push(String(token.value));
    } else if (token.kind === 'positional') {
      if (!current)
        throw new RunUsageError(
          `capture ${token.value} comes before any --lab-config: write --lab-config LAB.json before the captures it describes`,
        );
      current.captures.push(token.value);
    }
  }
  for (const session of plan.sessions)
    if (session.captures.length === 0)
      throw new RunUsageError(`--lab-config ${session.labConfig} has no capture after it`);
  if (plan.sessions.length === 0)
    throw new RunUsageError(
      'nothing to run: give --lab-config LAB.json CAPTURE… (once per build) or --manifest FILE',
    );
  return plan;
}

export interface PreparedRun {
  readonly sessions: CaptureJob[];
  readonly registrations: Registration[];
  /** TLS secrets for the captures (--keylog, the manifest's keylogs). */
  readonly keyLog: TlsKeyLog;
}

/**
 * Everything `run` and `check` read before the pipeline starts, checked: the manifest, each lab
 * config, each registration, each capture's presence. Returns the exit code when something is wrong
 * (said on stderr), so a bad input never leaves a half-run behind.
 */
export async function prepareRun(
  command: string,
  args: readonly string[],
  options: Record<string, unknown>,
  say: (text: string) => void,
): Promise<PreparedRun | number> {
  try {
    const plan = await planRun(args, options.manifest as string | undefined);
    const sessions: CaptureJob[] = [];
    for (const session of plan.sessions) {
      const context = await loadLabContext({
        labConfig: session.labConfig,
        ...(options.consentProfiles ? { consentProfiles: String(options.consentProfiles) } : {}),
        ...(options.catalog ? { catalog: String(options.catalog) } : {}),
      });
      sessions.push({ captures: session.captures, context });
    }
    const registrations: Registration[] = [];
    for (const path of plan.registrations) registrations.push(await readRegistrationFile(path));
    const keyLog = await readKeyLogs(plan.keylogs, say);
    for (const session of sessions)
      for (const capture of session.captures) await checkCaptureReadable(capture);
    // In build-date order, whatever order they were given in: each build is then compared with the
    // one before it, and a fix's session resolves what an earlier build raised (a build ingested
    // after a later one is compared correctly but leaves its alerts open).
    sessions.sort((a, b) => a.context.firmware.builtAt.localeCompare(b.context.firmware.builtAt));
    return { sessions, registrations, keyLog };
  } catch (error) {
    if (
      error instanceof RunUsageError ||
      error instanceof ProbeUsageError ||
      error instanceof ConfigFileError
    ) {
      say(`${error.message}\nRun 'leakwatch ${command} --help' for the flags.`);
      return EXIT.usage;
    }
    if (error instanceof CaptureFormatError) {
      say(error.message);
      return EXIT.capture;
    }
    throw error;
  }
}

/**
 * Runs prepared sessions through the local pipeline on the data directory; a store made by an
 * older leakwatch is a usage error (exit code returned).
 */
export async function executeRun(
  prepared: PreparedRun,
  options: Record<string, unknown>,
  io: { print: (text: string) => void; warn: (text: string) => void; say: (text: string) => void },
  inspect?: (store: LeakwatchStore) => Promise<void>,
): Promise<LocalPipelineResult | number> {
  const { runLocalPipeline } = await import('../local/localPipeline.ts');
  const { LocalTableError } = await import('../local/emulators.ts');
  const { DataDirBusyError } = await import('../local/dataDirLock.ts');
  let slack: LocalSlackSettings;
  try {
    slack = slackSettingsFromEnv();
  } catch (error) {
    if (!(error instanceof SlackSettingsError)) throw error;
    io.say(error.message);
    return EXIT.usage;
  }
  try {
    return await runLocalPipeline({
      dataDir: dataDirOf(options.dataDir as string | undefined),
      captures: prepared.sessions,
      registrations: prepared.registrations,
      keyLog: prepared.keyLog,
      ...slack,
      ...(options.catalog ? { catalogPath: String(options.catalog) } : {}),
      print: io.print,
      warn: io.warn,
      ...(inspect ? { inspect } : {}),
    });
  } catch (error) {
    if (error instanceof LocalTableError || error instanceof DataDirBusyError) {
      io.say(error.message);
      return EXIT.usage;
    }
    throw error;
  }
}

/**
 * `leakwatch run`: the lab's own captures through the local pipeline (the same handlers, emulators
 * and data directory as `npm start`), notifications delivered, the per-build summary printed.
 * Exit codes: 0 done; 1 records dead-lettered; 2 bad flag, lab config, registration or manifest
 * (before anything is read); 3 a capture missing or damaged; 75 notifications left pending.
 */
export async function runCommand(
  args: readonly string[],
  options: Record<string, unknown>,
  io: CliIo,
): Promise<number> {
  const say = (text: string) => io.stderr.write(`leakwatch run: ${text}\n`);
  const prepared = await prepareRun('run', args, options, say);
  if (typeof prepared === 'number') return prepared;
  const result = await executeRun(prepared, options, {
    print: (text) => io.stdout.write(`${text}\n`),
    warn: (text) => io.stderr.write(`${text}\n`),
    say,
  });
  if (typeof result === 'number') return result;
  const { formatReport } = await import('../local/localPipeline.ts');
  io.stdout.write(`${formatReport(result)}\n`);
  if (result.captureFailures.length > 0) return EXIT.capture;
  if (result.deadLetters > 0 || result.oversized > 0) return EXIT.delivery;
  if (result.channels.some((c) => c.pending > 0)) return EXIT.spooled;
  return EXIT.ok;
}
