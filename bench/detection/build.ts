import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEvaluationSet } from './evaluationSet.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const set = buildEvaluationSet();
await writeFile(
  join(root, 'test', 'fixtures', 'evaluation', 'labelled-requests.json'),
  `${JSON.stringify(set, null, 1)}\n`,
);
console.log(
  `test/fixtures/evaluation/labelled-requests.json: ${set.cases.length} cases (${set.cases.filter((c) => c.expected.length === 0).length} negatives)`,
);
