import { describe, expect, it } from '@jest/globals';
import {
  type BuildFacts,
  conditionsOf,
  type FlowObservation,
  isNewAgainst,
  type ObservationFacts,
  RULES,
  resolvedBy,
} from '../../core/alerts/rules.ts';
import type { Finding } from '../../core/classify/classifyCandidates.ts';
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
  country: 'CN',
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

function observe(d: Destination, extra: Partial<FlowObservation> = {}): FlowObservation {
  return {
    registrableDomain: d.registrableDomain,
    organisation: d.organisation,
    ...(d.country ? { country: d.country } : {}),
    ...(d.service ? { service: d.service } : {}),
    transport: d.transport,
    dataType: 'imei',
    flowsWithoutConsent: 0,
    forms: new Set<string>(),
    findings: [imei],
    ...extra,
  };
}
const build = (name: string, observations: ObservationFacts[], denied: string[] = []): BuildFacts => ({
  build: name,
  builtAt: '2014-01-01T00:00:00.000Z',
  observations,
  deniedServices: new Set(denied),
});

async function conditions(d: Destination, extra: Partial<FlowObservation> = {}) {
  const [record] = await probeScenario('build-2');
  return conditionsOf(record!, d, [observe(d, extra)], new Date('2026-01-01T00:00:00Z'));
}

describe('alert rules', () => {
  it('a plaintext IMEI sent without opt-in shows every rule but the hash rule', async () => {
    const found = await conditions(destination('plaintext', 'xiaomi.cloud-messaging'), {
      flowsWithoutConsent: 1,
    });

    expect(found.map((c) => [c.rule.id, c.subject, c.alert.severity])).toEqual([
      ['plaintext-begins', 'xiaomi.com', 'high'],
      ['sent-without-consent', 'xiaomi.com', 'high'],
      ['new-organisation', 'Xiaomi', 'medium'],
      ['new-country', 'CN', 'medium'],
    ]);
    expect(found[0]!.alert.where).toEqual(['form:imei']);
    expect(found[0]!.alert.masked).toBe('8646•••••••3454');
  });

  it('TLS traffic is not plaintext; a hash in plaintext is its own rule', async () => {
    expect((await conditions(destination('tls'))).map((c) => c.rule.id)).toEqual([
      'new-organisation',
      'new-country',
    ]);
    const hashed = await conditions(destination('plaintext'), { forms: new Set(['md5-hex']) });
    expect(hashed.map((c) => c.rule.id)).toContain('hashed-in-plaintext');
  });

  it('new against the baseline: plaintext-begins fires on a first build, new-organisation does not', () => {
    const d = destination('plaintext');
    const sentBefore = build('b1', [observe(d)]);
    const sentOverTls = build('b1', [observe(destination('tls'))]);

    expect(isNewAgainst(RULES['plaintext-begins'], [], 'xiaomi.com', 'imei')).toBe(true);
    expect(isNewAgainst(RULES['plaintext-begins'], [sentBefore], 'xiaomi.com', 'imei')).toBe(false);
    expect(isNewAgainst(RULES['plaintext-begins'], [sentOverTls], 'xiaomi.com', 'imei')).toBe(true);
    expect(isNewAgainst(RULES['new-organisation'], [], 'Xiaomi', 'imei')).toBe(false);
    expect(isNewAgainst(RULES['new-organisation'], [sentOverTls], 'Xiaomi', 'imei')).toBe(false);
    expect(isNewAgainst(RULES['new-organisation'], [build('b1', [])], 'Xiaomi', 'imei')).toBe(true);
    // Two builds of baseline: sending in either is not new.
    expect(isNewAgainst(RULES['plaintext-begins'], [build('b2', []), sentBefore], 'xiaomi.com', 'imei')).toBe(
      false,
    );
  });

  it('resolves only when a later build stops, and consent alerts only from a build tested without consent', () => {
    const alert = { rule: 'plaintext-begins' as const, subject: 'xiaomi.com', dataType: 'imei' as const };
    expect(resolvedBy(build('b3', [observe(destination('tls'))]), alert)).toBe(true);
    expect(resolvedBy(build('b3', [observe(destination('plaintext'))]), alert)).toBe(false);

    const consent = { ...alert, rule: 'sent-without-consent' as const, service: 'xiaomi.cloud-messaging' };
    expect(resolvedBy(build('b3', [], []), consent)).toBe(false);
    expect(resolvedBy(build('b3', [], ['xiaomi.cloud-messaging']), consent)).toBe(true);
    const stillSent = observe(destination('tls', 'xiaomi.cloud-messaging'), { flowsWithoutConsent: 2 });
    expect(resolvedBy(build('b3', [stillSent], ['xiaomi.cloud-messaging']), consent)).toBe(false);
  });
});
