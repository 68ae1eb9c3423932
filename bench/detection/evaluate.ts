import { randomBytes } from 'node:crypto';
import { classifyCandidates } from '../../core/classify/classifyCandidates.ts';
import { PERSONAL_DATA_TYPES, type PersonalDataType } from '../../core/classify/dataTypes.ts';
import { KnownValueIndex, registration } from '../../core/registry/knownValues.ts';
import type { EvaluationSet } from './evaluationSet.ts';

export interface TypeScore {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly precision: number;
  readonly recall: number;
}

export interface EvaluationResult {
  readonly perType: Record<PersonalDataType, TypeScore>;
  readonly overall: TypeScore;
  /** Cases classified wrongly, for the report. */
  readonly mistakes: { id: string; expected: string[]; got: string[] }[];
}

/** Runs the classifier over every case and scores each data type (a case counts once per type). */
export function evaluate(set: EvaluationSet): EvaluationResult {
  const key = randomBytes(32);
  const { digests, plainLengths, fingerprints } = registration(key, set.registered);
  const known = new KnownValueIndex(key, digests, plainLengths, fingerprints);
  const counts = new Map<PersonalDataType, { tp: number; fp: number; fn: number }>(
    PERSONAL_DATA_TYPES.map((t) => [t, { tp: 0, fp: 0, fn: 0 }]),
  );
  const mistakes: EvaluationResult['mistakes'] = [];
  for (const c of set.cases) {
    const { findings } = classifyCandidates(
      [{ request: 0, location: c.location, key: c.key, value: c.value, shape: 'text' }],
      {
        region: set.region,
        ...(c.mode === 'registered' ? { known } : {}),
      },
    );
    const got = new Set(findings.map((f) => f.dataType));
    const expected = new Set(c.expected);
    for (const type of expected) {
      if (got.has(type)) counts.get(type)!.tp++;
      else counts.get(type)!.fn++;
    }
    for (const type of got) if (!expected.has(type)) counts.get(type)!.fp++;
    if ([...expected].some((t) => !got.has(t)) || [...got].some((t) => !expected.has(t))) {
      mistakes.push({ id: c.id, expected: [...expected], got: [...got] });
    }
  }
  const score = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }): TypeScore => ({
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
  });
  const total = { tp: 0, fp: 0, fn: 0 };
  for (const c of counts.values()) {
    total.tp += c.tp;
    total.fp += c.fp;
    total.fn += c.fn;
  }
  return {
    perType: Object.fromEntries([...counts].map(([type, c]) => [type, score(c)])) as Record<
      PersonalDataType,
      TypeScore
    >,
    overall: score(total),
    mistakes,
  };
}
