import { dataTypeLabel } from '../classify/dataTypes.ts';
import type { CheckCase, CheckResult } from './checkBuild.ts';

/**
 * The check as JUnit XML, the format every CI system shows as test results: one test suite for the
 * build, one test case per rule × data type × destination host. A regression is a `<failure>`, a
 * suppressed one (the lab's verdict) is `<skipped>`; unchanged and passing cases pass.
 */
export function junitReport(result: CheckResult, at: Date, captures: readonly string[]): string {
  const failures = result.cases.filter((c) => c.status === 'regressed').length;
  const skipped = result.cases.filter((c) => c.status === 'suppressed').length;
  // One case that always runs: the build was read and judged (a CI system also sees a clean build's file).
  const tests = result.cases.length + 1;
  const suite = `${result.vendor} ${result.model} ${result.line} ${result.build.build}`;
  const against = result.baseline.map((b) => b.build).join(', ') || 'no baseline';
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="leakwatch check" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="0">`,
    `  <testsuite name="${xml(suite)}" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="0" timestamp="${at.toISOString().slice(0, 19)}">`,
    '    <properties>',
    `      <property name="line" value="${xml(result.line)}"/>`,
    `      <property name="build" value="${xml(result.build.build)}"/>`,
    `      <property name="baseline" value="${xml(against)}"/>`,
    ...captures.map((c) => `      <property name="capture" value="${xml(c)}"/>`),
    '    </properties>',
    `    <testcase classname="leakwatch.check" name="${xml(`build ${result.build.build} judged against ${against}`)}" time="0">`,
    `      <system-out>${xml(`${result.build.flows} flows; ${result.cases.length} checks of rule × data type × destination`)}</system-out>`,
    '    </testcase>',
  ];
  for (const c of result.cases) lines.push(...testCase(c));
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

function testCase(c: CheckCase): string[] {
  const name = `${dataTypeLabel(c.dataType)} → ${c.host}`;
  const open = `    <testcase classname="leakwatch.${c.rule}" name="${xml(name)}" time="0"`;
  if (c.status === 'passed' || c.status === 'unchanged') {
    const why =
      c.status === 'passed'
        ? `${c.rule} does not apply (${c.transports.join(', ')})`
        : `as in the baseline: ${c.title}`;
    return [`${open}>`, `      <system-out>${xml(why)}</system-out>`, '    </testcase>'];
  }
  if (c.status === 'suppressed')
    return [
      `${open}>`,
      `      <skipped message="${xml(`${c.verdict} verdict on alert ${c.alertId}${c.verdictNote ? `: ${c.verdictNote}` : ''}`)}"/>`,
      '    </testcase>',
    ];
  const detail = [
    c.title,
    '',
    `Rule:        ${c.rule} (${c.severity})`,
    `To:          ${c.host} (${c.organisation}${c.country ? `, ${c.country}` : ''})`,
    `How:         ${c.transports.join(', ')}`,
    ...(c.where.length ? [`Where:       ${c.where.join(', ')}`] : []),
    ...(c.masked ? [`Value:       ${c.masked}`] : []),
    `Flows:       ${c.flows}`,
    ...(c.alertId ? [`Alert:       ${c.alertId}`] : []),
    '',
    c.explanation,
  ].join('\n');
  return [
    `${open}>`,
    `      <failure type="${c.rule}" message="${xml(c.title)}">${xml(detail)}</failure>`,
    '    </testcase>',
  ];
}

/** Text for XML attributes and content; characters XML 1.0 does not allow are dropped. */
const xml = (text: string) =>
  text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing what XML 1.0 forbids
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
