import { describe, expect, it } from '@jest/globals';
import { evaluateRules, type RuleInput } from '../../core/alerts/rules.ts';
import type { Finding } from '../../core/classify/classifyCandidates.ts';
import type { PersonalDataType } from '../../core/classify/dataTypes.ts';
import type { Destination } from '../../core/classify/destination.ts';
import { probeScenario } from '../helpers/scenario.ts';

const destination = (transport: Destination['transport'], service?: string): Destination => ({
  host: 'api.account.xiaomi.com',
  hostSource: 'http-host',
  registrableDomain: 'xiaomi.com',
  organisation: 'Xiaomi',
  category: 'vendor-cloud',
  transport,
  transportDetail: transport === 'tls' ? 'TLS 1.3' : 'plaintext HTTP',
  ...(service ? { service } : {}),
});
const imei: Finding = {
  dataType: 'imei',
  where: 'form:imei',
  chain: [],
  masked: '8646•••••••3454',
  confidence: 0.99,
  source: 'discovered',
  evidence: 'luhn',
};

async function input(overrides: Partial<RuleInput>): Promise<RuleInput> {
  const [record] = await probeScenario('build-2');
  return {
    record: record!,
    destination: destination('plaintext', 'xiaomi.cloud-messaging'),
    findings: new Map<PersonalDataType, Finding[]>([['imei', [imei]]]),
    baselineBuild: 'KHHCNBH38.0',
    baselineSentPlaintext: new Map([['imei', false]]),
    now: new Date('2026-01-01T00:00:00Z'),
    ...overrides,
  };
}

describe('evaluateRules', () => {
  it('raises plaintext-begins and sent-without-consent for a new plaintext IMEI without opt-in', async () => {
    const alerts = evaluateRules(await input({}));

    expect(alerts.map((a) => [a.rule, a.dataType, a.severity, a.baselineBuild])).toEqual([
      ['plaintext-begins', 'imei', 'high', 'KHHCNBH38.0'],
      ['sent-without-consent', 'imei', 'high', 'KHHCNBH38.0'],
    ]);
    expect(alerts[0]!.where).toEqual(['form:imei']);
    expect(alerts[0]!.masked).toBe('8646•••••••3454');
  });

  it('raises nothing new when the baseline build already sent it in plaintext and consent was given', async () => {
    const base = await input({ baselineSentPlaintext: new Map([['imei', true]]) });
    const record = {
      ...base.record,
      session: { id: 's', consent: { 'xiaomi.cloud-messaging': 'granted' as const } },
    };

    expect(evaluateRules({ ...base, record })).toEqual([]);
  });

  it('does not call TLS traffic plaintext', async () => {
    const base = await input({ destination: destination('tls') });

    expect(evaluateRules(base)).toEqual([]);
  });
});
