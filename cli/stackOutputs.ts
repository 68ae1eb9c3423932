import { resolve } from 'node:path';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

/** The local data directory: `--data-dir`, else $LEAKWATCH_DATA_DIR, else `.leakwatch` (as `npm start`). */
export const dataDirOf = (option: string | undefined) =>
  resolve(option ?? process.env.LEAKWATCH_DATA_DIR ?? '.leakwatch');

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
