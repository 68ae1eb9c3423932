import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BuildFacts } from '../core/alerts/rules.ts';
import { type CheckCase, type CheckResult, checkBuild } from '../core/check/checkBuild.ts';
import { junitReport } from '../core/check/junitReport.ts';
import { sarifReport } from '../core/check/sarifReport.ts';
import { dataTypeLabel } from '../core/classify/dataTypes.ts';
import { lineKey } from '../core/store/keys.ts';
import type { BuildSummary, LeakwatchStore } from '../core/store/leakwatchStore.ts';
import { EXIT } from '../probe/probeCommand.ts';
import { PROBE_VERSION } from '../probe/version.ts';
import type { CliIo } from './openStore.ts';
import { executeRun, prepareRun } from './runCommand.ts';

/** Something check cannot judge with what it was given (exit 2), found once the history is open. */
class CheckUsageError extends Error {
  override name = 'CheckUsageError';
}

/**
 * `leakwatch check`: the firmware CI gate. The capture goes through the local pipeline like `run`
 * (its build joins the history), then every alert rule is evaluated on what the build sent against
 * its baseline (`--baseline BUILD`, else the line's previous build). Exit codes: 0 the build raises
 * nothing new; 1 it regresses (the list is printed, JUnit and SARIF written); 2 bad flag, lab config
 * or baseline; 3 the capture could not be read whole or records were dead-lettered (nothing to judge).
 */
export async function checkCommand(
  args: readonly string[],
  options: Record<string, unknown>,
  io: CliIo,
): Promise<number> {
  const say = (text: string) => io.stderr.write(`leakwatch check: ${text}\n`);
  if (options.manifest) {
    say('--manifest is for leakwatch run; check takes one build: --lab-config LAB.json CAPTURE…');
    return EXIT.usage;
  }
  const prepared = await prepareRun('check', args, options, say);
  if (typeof prepared === 'number') return prepared;
  if (prepared.sessions.length !== 1) {
    say(
      `check judges one build: give one --lab-config (got ${prepared.sessions.length}); run earlier builds with leakwatch run first`,
    );
    return EXIT.usage;
  }
  const session = prepared.sessions[0]!;
  let verdict: CheckResult | undefined;
  let problem: string | undefined;
  const result = await executeRun(
    prepared,
    options,
    // The pipeline's own lines go to stderr: stdout is the verdict.
    { print: (text) => io.stderr.write(`${text}\n`), warn: (text) => io.stderr.write(`${text}\n`), say },
    async (store) => {
      try {
        verdict = await evaluate(store, session.context, options.baseline as string | undefined);
      } catch (error) {
        if (!(error instanceof CheckUsageError)) throw error;
        problem = error.message;
      }
    },
  );
  if (typeof result === 'number') return result;
  const { deliveryLines } = await import('../local/localPipeline.ts');
  for (const line of deliveryLines(result.channels)) io.stderr.write(`  ${line}\n`);
  if (problem) {
    say(problem);
    return EXIT.usage;
  }
  if (result.captureFailures.length > 0 || result.deadLetters > 0) {
    say(
      `cannot judge build ${session.context.firmware.build}: ${result.captureFailures.length > 0 ? 'a capture was not read to the end' : `${result.deadLetters} record(s) were dead-lettered (${result.paths.deadLetters})`}`,
    );
    return EXIT.capture;
  }
  if (!verdict) {
    say(`the capture holds no flow of build ${session.context.firmware.build}: nothing to judge`);
    return EXIT.capture;
  }
  const captures = session.captures;
  if (options.junit) await writeOut(String(options.junit), junitReport(verdict, new Date(), captures));
  if (options.sarif)
    await writeOut(
      String(options.sarif),
      `${JSON.stringify(sarifReport(verdict, PROBE_VERSION, captures), null, 2)}\n`,
    );
  io.stdout.write(verdictText(verdict));
  return verdict.cases.some((c) => c.status === 'regressed') ? EXIT.delivery : EXIT.ok;
}

async function writeOut(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

async function evaluate(
  store: LeakwatchStore,
  context: {
    device: { vendor: string; model: string };
    firmware: { line: string; build: string; builtAt: string };
  },
  baselineName: string | undefined,
): Promise<CheckResult | undefined> {
  const line = lineKey(context.device, context.firmware);
  const build = await store.builds.getBuild(line, context.firmware);
  if (!build) return undefined;
  let baseline: BuildSummary[];
  if (baselineName !== undefined) {
    const builds = await store.builds.buildsOfLine(line);
    const named = builds.find((b) => b.build === baselineName);
    if (!named || named.build === build.build)
      throw new CheckUsageError(
        named
          ? `--baseline ${baselineName} is the build being checked`
          : `--baseline ${baselineName} is not a build of line ${context.firmware.line} in this store (builds: ${
              builds
                .map((b) => b.build)
                .filter((b) => b !== build.build)
                .join(', ') || 'none yet'
            }); leakwatch run its capture first`,
      );
    baseline = [named];
  } else {
    baseline = await store.builds.previousBuilds(line, context.firmware, 1);
  }
  const facts = {
    ...(await store.builds.buildFacts(line, build)),
    observations: await store.builds.observationsOfBuild(line, build.build),
  };
  const baselineFacts: BuildFacts[] = await Promise.all(
    baseline.map((b) => store.builds.buildFacts(line, b)),
  );
  return checkBuild(
    {
      vendor: context.device.vendor,
      model: context.device.model,
      line: context.firmware.line,
      build,
      baseline,
    },
    facts,
    baselineFacts,
    await store.alerts.alertsOfLine(line),
  );
}

const caseLine = (c: CheckCase) =>
  `  ${c.status === 'regressed' ? 'FAIL' : 'SKIP'} ${c.rule} (${c.severity}): ${dataTypeLabel(c.dataType)} → ${c.host} [${c.transports.join(', ')}]${c.where.length ? ` at ${c.where.join(', ')}` : ''}${c.masked ? ` ${c.masked}` : ''}${c.alertId ? `; alert ${c.alertId}` : ''}${c.status === 'suppressed' ? ` (${c.verdict})` : ''}`;

/** What a person reads in the CI log: each regression, then the verdict. */
function verdictText(result: CheckResult): string {
  const against = result.baseline.length
    ? `against ${result.baseline.map((b) => b.build).join(', ')}`
    : 'with no earlier build of the line (first build)';
  const count = (status: string) => result.cases.filter((c) => c.status === status).length;
  const regressed = count('regressed');
  const lines = [
    `leakwatch check: ${result.vendor} ${result.model}, line ${result.line}, build ${result.build.build} ${against}`,
    ...result.cases.filter((c) => c.status === 'regressed' || c.status === 'suppressed').map(caseLine),
    `${regressed} regression(s), ${count('suppressed')} suppressed by verdict, ${count('unchanged')} as in the baseline, ${count('passed')} passed (${result.cases.length} checks: rule × data type × destination)`,
    regressed > 0
      ? `FAILED: build ${result.build.build} begins doing what the rules above flag`
      : `PASSED: build ${result.build.build} raises nothing new`,
  ];
  return `${lines.join('\n')}\n`;
}
