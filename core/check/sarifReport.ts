import { createHash } from 'node:crypto';
import { RULES } from '../alerts/rules.ts';
import { dataTypeLabel } from '../classify/dataTypes.ts';
import type { CheckResult } from './checkBuild.ts';

/**
 * The check as SARIF 2.1.0 (OASIS), which code-scanning dashboards take (GitHub code scanning,
 * Azure DevOps, GitLab): the five alert rules as the tool's rules, one result per regressed or
 * suppressed case (suppressed ones carry the lab's verdict as a SARIF suppression). The location
 * is the capture (artifact) and the destination host (a logical location).
 * https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
 */
export function sarifReport(result: CheckResult, version: string, captures: readonly string[]) {
  const ruleIds = Object.keys(RULES);
  const artifacts = captures.map((uri) => ({ location: { uri: uriOf(uri) } }));
  const results = result.cases
    .filter((c) => c.status === 'regressed' || c.status === 'suppressed')
    .map((c) => ({
      ruleId: c.rule,
      ruleIndex: ruleIds.indexOf(c.rule),
      level: c.severity === 'high' ? 'error' : 'warning',
      message: {
        text: `${c.title} (${c.transports.join(', ')}${c.where.length ? `; ${c.where.join(', ')}` : ''}${c.masked ? `; ${c.masked}` : ''})`,
      },
      locations: [
        {
          ...(artifacts.length
            ? { physicalLocation: { artifactLocation: { uri: artifacts[0]!.location.uri, index: 0 } } }
            : {}),
          logicalLocations: [
            {
              name: c.host,
              fullyQualifiedName: `${result.line}/${result.build.build}/${c.host}`,
              kind: 'resource',
            },
          ],
        },
      ],
      // Stable across runs of the same line: the alert's key (rule, subject, data type).
      partialFingerprints: {
        'leakwatchAlertKey/v1': createHash('sha256')
          .update(`${result.vendor}|${result.model}|${result.line}|${c.rule}|${c.subject}|${c.dataType}`)
          .digest('hex')
          .slice(0, 32),
      },
      properties: {
        dataType: c.dataType,
        dataTypeLabel: dataTypeLabel(c.dataType),
        host: c.host,
        organisation: c.organisation,
        ...(c.country ? { country: c.country } : {}),
        ...(c.subject ? { subject: c.subject } : {}),
        flows: c.flows,
        ...(c.alertId ? { alertId: c.alertId } : {}),
      },
      ...(c.status === 'suppressed'
        ? {
            suppressions: [
              {
                kind: 'external',
                status: 'accepted',
                justification: `${c.verdict}${c.verdictNote ? `: ${c.verdictNote}` : ''} (alert ${c.alertId})`,
              },
            ],
          }
        : {}),
    }));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'leakwatch',
            version,
            semanticVersion: version,
            rules: Object.values(RULES).map((rule) => ({
              id: rule.id,
              name: rule.id.replace(/(^|-)([a-z])/g, (_, _dash, c: string) => c.toUpperCase()),
              shortDescription: { text: shortText(rule.id) },
              fullDescription: { text: rule.explanation },
              defaultConfiguration: { level: rule.severity === 'high' ? 'error' : 'warning' },
              properties: {
                tags: ['privacy', 'personal-data'],
                'security-severity': rule.severity === 'high' ? '8.0' : '5.0',
              },
            })),
          },
        },
        automationDetails: { id: `leakwatch-check/${result.line}/${result.build.build}` },
        artifacts,
        invocations: [{ executionSuccessful: true }],
        properties: {
          vendor: result.vendor,
          model: result.model,
          line: result.line,
          build: result.build.build,
          builtAt: result.build.builtAt,
          baseline: result.baseline.map((b) => b.build),
        },
        results,
      },
    ],
  };
}

const shortText = (rule: string) =>
  ({
    'plaintext-begins': 'A build begins sending a personal-data type unencrypted',
    'sent-without-consent': 'Personal data sent to a service the session did not opt in to',
    'new-organisation': 'A build begins sending a personal-data type to a new organisation',
    'new-country': 'A build begins sending a personal-data type to servers in a new country',
    'hashed-in-plaintext': 'A hash of an identifier sent unencrypted',
  })[rule] ?? rule;

/** A relative path as a relative URI reference; an absolute one as a file: URI. */
const uriOf = (path: string) =>
  path.startsWith('/') ? `file://${encodeURI(path)}` : encodeURI(path.replace(/\\/g, '/'));
