import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { evaluate } from '../../bench/detection/evaluate.ts';
import { buildEvaluationSet, type EvaluationSet } from '../../bench/detection/evaluationSet.ts';
import { PERSONAL_DATA_TYPES } from '../../core/classify/dataTypes.ts';
import { fixturesDir } from '../helpers/fixtures.ts';

/** Issue #4's bar: per data type, recall ≥ 0.99 and precision ≥ 0.98 on the labelled set. */
describe('detection quality on the labelled evaluation set', () => {
  it('the committed set is what the generator writes', async () => {
    const committed = JSON.parse(
      await readFile(join(fixturesDir, 'evaluation', 'labelled-requests.json'), 'utf8'),
    );

    expect(committed).toEqual(JSON.parse(JSON.stringify(buildEvaluationSet())));
  });

  it('covers every data type, with negatives', async () => {
    const set = JSON.parse(
      await readFile(join(fixturesDir, 'evaluation', 'labelled-requests.json'), 'utf8'),
    ) as EvaluationSet;

    for (const type of PERSONAL_DATA_TYPES)
      expect(set.cases.filter((c) => c.expected.includes(type)).length).toBeGreaterThanOrEqual(20);
    expect(set.cases.filter((c) => c.expected.length === 0).length).toBeGreaterThanOrEqual(60);
  });

  it.each(PERSONAL_DATA_TYPES)('%s: recall ≥ 0.99, precision ≥ 0.98', async (type) => {
    const set = JSON.parse(
      await readFile(join(fixturesDir, 'evaluation', 'labelled-requests.json'), 'utf8'),
    ) as EvaluationSet;

    const score = evaluate(set).perType[type];

    expect(score.recall).toBeGreaterThanOrEqual(0.99);
    expect(score.precision).toBeGreaterThanOrEqual(0.98);
  });
});
