import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

/** The local data directory: `--data-dir`, else $LEAKWATCH_DATA_DIR, else `.leakwatch` (as `npm start`). */
export const dataDirOf = (option: string | undefined) =>
  resolve(option ?? process.env.LEAKWATCH_DATA_DIR ?? '.leakwatch');

/** A data directory that is not there, or holds no leakwatch store (a mistyped --data-dir). */
export class NoStoreError extends Error {
  override name = 'NoStoreError';
}

/**
 * The data directory a reading command uses, which must already hold what `what` names
 * (`dynamodb` for the history, `registry.json` for devices): a mistyped --data-dir is an error,
 * never an empty store created on the spot.
 */
export function existingDataDir(option: string | undefined, what: 'dynamodb' | 'registry.json'): string {
  const dir = dataDirOf(option);
  const from = option ? '--data-dir' : process.env.LEAKWATCH_DATA_DIR ? '$LEAKWATCH_DATA_DIR' : 'the default';
  const hint =
    'leakwatch run CAPTURE… (or npm start) makes one; point --data-dir or $LEAKWATCH_DATA_DIR at the directory it used';
  if (!existsSync(dir)) throw new NoStoreError(`no leakwatch data directory at ${dir} (${from}): ${hint}`);
  if (!existsSync(join(dir, what)))
    throw new NoStoreError(
      what === 'dynamodb'
        ? `${dir} (${from}) holds no leakwatch store (no dynamodb/ in it): ${hint}`
        : `${dir} (${from}) holds no device registry (no registry.json in it): leakwatch devices register adds devices`,
    );
  return dir;
}

export class StackOutputsError extends Error {
  override name = 'StackOutputsError';
}

/** The named outputs of a deployed leakwatch stack; throws naming the outputs it lacks. */
export async function stackOutputs<Name extends string>(
  cloudFormation: CloudFormationClient,
  stackName: string,
  names: readonly Name[],
): Promise<Record<Name, string>> {
  const { Stacks: stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
  const outputs = Object.fromEntries((stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  if (names.some((name) => !outputs[name])) {
    throw new StackOutputsError(
      `stack ${stackName} has no ${names.join('/')} outputs: is it a leakwatch stack, deployed with this version?`,
    );
  }
  return outputs as Record<Name, string>;
}
