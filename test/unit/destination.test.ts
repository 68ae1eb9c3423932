import { describe, expect, it } from '@jest/globals';
import { loadCatalog } from '../../core/catalog/bundledCatalog.ts';
import { classifyDestination } from '../../core/classify/destination.ts';
import { cachedReverseLookup } from '../../core/geo/reverseDns.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { probeScenario } from '../helpers/scenario.ts';

const catalog = loadCatalog(undefined);

async function record(names: FlowRecord['names'], ip = '203.0.113.10'): Promise<FlowRecord> {
  const [tls] = (await probeScenario('build-1')).filter((r) => r.application === 'tls');
  return { ...tls!, names, flow: { ...tls!.flow, server: { ip, port: 443 } } };
}

describe('classifyDestination', () => {
  it('names the server by Host, then SNI, then DNS answer, then reverse DNS, then address', async () => {
    const all = { httpHost: 'a.example.com', sni: 'b.example.com', dns: 'c.example.com' };

    expect(classifyDestination(await record(all), catalog).hostSource).toBe('http-host');
    expect(
      classifyDestination(await record({ sni: 'b.example.com', dns: 'c.example.com' }), catalog).hostSource,
    ).toBe('sni');
    expect(classifyDestination(await record({ dns: 'c.example.com' }), catalog).hostSource).toBe('dns');
    expect(classifyDestination(await record({}), catalog, undefined, 'host-1.example.net')).toMatchObject({
      host: 'host-1.example.net',
      hostSource: 'reverse-dns',
      registrableDomain: 'example.net',
    });
    expect(classifyDestination(await record({}), catalog)).toMatchObject({
      host: '203.0.113.10',
      hostSource: 'ip',
      registrableDomain: '203.0.113.10',
    });
  });

  it('uses the public suffix list for the registrable domain and says the TLS version', async () => {
    const destination = classifyDestination(await record({ sni: 'api.account.xiaomi.com' }), catalog);

    expect(destination).toMatchObject({
      registrableDomain: 'xiaomi.com',
      organisation: 'Xiaomi',
      service: 'xiaomi.cloud-messaging',
      transportDetail: 'TLS 1.3',
    });
    expect(classifyDestination(await record({ sni: 'x.service.gov.uk' }), catalog).registrableDomain).toBe(
      'service.gov.uk',
    );
  });
});

describe('cachedReverseLookup', () => {
  it('caches answers, times out slow lookups and swallows failures', async () => {
    let calls = 0;
    const lookup = cachedReverseLookup(async (ip) => {
      calls++;
      if (ip === '1.1.1.1') return ['one.one.one.one.'];
      if (ip === '2.2.2.2') return new Promise<string[]>(() => undefined); // never answers
      throw new Error('ENOTFOUND');
    }, 50);

    expect(await lookup('1.1.1.1')).toBe('one.one.one.one');
    expect(await lookup('1.1.1.1')).toBe('one.one.one.one');
    expect(await lookup('2.2.2.2')).toBeUndefined();
    expect(await lookup('3.3.3.3')).toBeUndefined();
    expect(calls).toBe(3);
  });
});
