import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PERSONAL_DATA_TYPES, type PersonalDataType } from '../classify/dataTypes.ts';
import { ConfigFileError, parseConfigText } from '../config/strictParse.ts';
import { identifierProblem } from './identifiers.ts';
import type { RegisteredValue } from './knownValues.ts';

/**
 * A registration file (`leakwatch run --register REG.json`, the scenario's registration.json): one
 * device's identifiers and a session's canaries, as `devices register` takes them on the command
 * line. Parsed strictly, and every identifier checked as `devices register` checks it.
 */
export const RegistrationFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    deviceId: z.string().min(1).max(256),
    values: z
      .array(
        z.strictObject({
          dataType: z.enum(PERSONAL_DATA_TYPES as [PersonalDataType, ...PersonalDataType[]]),
          value: z.string().min(1),
          canary: z.boolean().optional(),
        }),
      )
      .min(1, 'no values: give at least one { "dataType": …, "value": … }'),
  })
  .superRefine((file, context) => {
    for (const [i, entry] of file.values.entries()) {
      // Canaries are planted text and numbers: any non-empty value is fine.
      const problem = entry.canary ? undefined : identifierProblem(entry.dataType, entry.value);
      if (problem)
        context.addIssue({
          code: 'custom',
          path: ['values', i, 'value'],
          message: `the ${entry.dataType} ${problem}`,
        });
    }
  });

export interface Registration {
  readonly deviceId: string;
  readonly values: readonly RegisteredValue[];
}

/** Reads and checks a registration file; ConfigFileError says what is wrong and where. */
export async function readRegistrationFile(path: string): Promise<Registration> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`cannot read registration ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const file = parseConfigText(RegistrationFileSchema, text, 'registration', path);
  return {
    deviceId: file.deviceId,
    values: file.values.map(({ dataType, value, canary }) => ({
      dataType,
      value,
      ...(canary ? { canary } : {}),
    })),
  };
}
