import { writeFileSync } from 'node:fs';

/**
 * Crash points, for the kill-anywhere test of local mode (test/cli/killAnywhere.test.ts).
 * A *step* is a moment the outside world has changed and the process has not yet acted on it: a
 * DynamoDB write answered, a Kinesis PutRecords answered, a notification channel's message sent.
 * With LEAKWATCH_FAULT_KILL_AT_STEP=N the process kills itself (SIGKILL) at its Nth step, or with
 * LEAKWATCH_FAULT_KILL_AT_STEP="slack sent#2" at the 2nd step whose name holds `slack sent` (step
 * numbers vary between runs of `serve`, where ingest and delivery interleave); with
 * LEAKWATCH_FAULT_STEPS_FILE=path it writes how many steps it took when it exits (a clean run's
 * count, to choose N from). Unset, a step costs a comparison.
 */
const killSetting = process.env.LEAKWATCH_FAULT_KILL_AT_STEP ?? '';
const killAt = /^\d+$/.test(killSetting) ? Number(killSetting) : 0;
const killLabel = killAt === 0 && killSetting !== '' ? /^(.*?)(?:#(\d+))?$/.exec(killSetting) : null;
let labelSeen = 0;
const stepsFile = process.env.LEAKWATCH_FAULT_STEPS_FILE;
let steps = 0;
const log: string[] = [];
if (stepsFile) process.on('exit', () => writeFileSync(stepsFile, `${steps}\n${log.join('\n')}\n`));

/** One step: `what` names it in the steps file. */
export function faultStep(what: string): void {
  if (!faultStepsOn()) return;
  steps++;
  if (stepsFile) log.push(`${steps} ${what}`);
  if (steps === killAt) process.kill(process.pid, 'SIGKILL');
  if (killLabel && what.includes(killLabel[1]!) && ++labelSeen === Number(killLabel[2] ?? 1))
    process.kill(process.pid, 'SIGKILL');
}

/** Whether steps are counted (so callers attach their hooks only then). */
export const faultStepsOn = () => killAt > 0 || killLabel !== null || stepsFile !== undefined;

/** A middleware that takes a step after each write the client's request made (SDK v3 clients). */
export function stepAfterWrites(
  client: { middlewareStack: { add: (...args: never[]) => void } },
  service: string,
  isWrite: (command: string) => boolean,
): void {
  if (!faultStepsOn()) return;
  (client.middlewareStack.add as unknown as (m: unknown, o: unknown) => void)(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: unknown) => {
        const result = await next(args);
        const command = String(context.commandName ?? '');
        if (isWrite(command)) faultStep(`${service} ${command}`);
        return result;
      },
    { step: 'initialize', name: 'leakwatchFaultSteps' },
  );
}
