import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate } from './evaluate.ts';
import type { EvaluationSet } from './evaluationSet.ts';

/** `npm run bench:detection`: precision and recall per data type on the labelled evaluation set. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const set = JSON.parse(
  await readFile(join(root, 'test', 'fixtures', 'evaluation', 'labelled-requests.json'), 'utf8'),
) as EvaluationSet;
const result = evaluate(set);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(7);
console.log(
  `${set.cases.length} labelled cases (${set.cases.filter((c) => c.expected.length === 0).length} negatives)\n`,
);
console.log(
  `${'data type'.padEnd(16)} ${'TP'.padStart(5)} ${'FP'.padStart(4)} ${'FN'.padStart(4)} precision  recall`,
);
for (const [type, s] of Object.entries(result.perType)) {
  console.log(
    `${type.padEnd(16)} ${String(s.truePositives).padStart(5)} ${String(s.falsePositives).padStart(4)} ${String(s.falseNegatives).padStart(4)}   ${pct(s.precision)} ${pct(s.recall)}`,
  );
}
const o = result.overall;
console.log(
  `${'overall'.padEnd(16)} ${String(o.truePositives).padStart(5)} ${String(o.falsePositives).padStart(4)} ${String(o.falseNegatives).padStart(4)}   ${pct(o.precision)} ${pct(o.recall)}`,
);
if (result.mistakes.length > 0) {
  console.log(`\n${result.mistakes.length} cases wrong:`);
  for (const m of result.mistakes.slice(0, 40))
    console.log(`  ${m.id}: expected [${m.expected}] got [${m.got}]`);
}
