import { describe, expect, it } from '@jest/globals';
import { AsnTable, encodeAsnTable } from '../../core/geo/asnTable.ts';
import { loadOfflineIpInfo } from '../../core/geo/ipInfo.ts';

describe('AsnTable', () => {
  const table = new AsnTable(
    encodeAsnTable(
      [
        { start: 0x01000000n, end: 0x010000ffn, asn: 13335, organisation: 'Cloudflare, Inc.' },
        { start: 0x08080800n, end: 0x08080bffn, asn: 15169, organisation: 'Google LLC' },
      ],
      [
        {
          start: 0x20014860000000000000000000000000n,
          end: 0x20014860ffffffffffffffffffffffffn,
          asn: 15169,
          organisation: 'Google LLC',
        },
      ],
    ),
    'test',
  );

  it('finds the range an address falls in, IPv4 and IPv6', () => {
    expect(table.lookup('1.0.0.1')).toEqual({ asn: 13335, organisation: 'Cloudflare, Inc.' });
    expect(table.lookup('8.8.8.8')).toEqual({ asn: 15169, organisation: 'Google LLC' });
    expect(table.lookup('2001:4860:4860::8888')).toEqual({ asn: 15169, organisation: 'Google LLC' });
  });

  it('finds nothing between ranges or for non-addresses', () => {
    expect(table.lookup('1.0.1.0')).toBeUndefined();
    expect(table.lookup('0.0.0.1')).toBeUndefined();
    expect(table.lookup('2001:4861::1')).toBeUndefined();
    expect(table.lookup('not an ip')).toBeUndefined();
  });

  it('rejects a file that is not a table', () => {
    expect(() => new AsnTable(Buffer.from('hello'), 'x.bin')).toThrow(
      'x.bin is not a leakwatch ASN table (run npm run build:data)',
    );
  });
});

describe('offline IP information (shipped databases)', () => {
  const warnings: string[] = [];
  const info = loadOfflineIpInfo({}, (m) => void warnings.push(m));

  it('has both databases (npm install builds the ASN table)', () => {
    expect(warnings).toEqual([]);
  });

  it.each([
    ['8.8.8.8', 'US', 15169],
    ['1.1.1.1', 'AU', 13335],
    ['2001:4860:4860::8888', 'US', 15169],
  ])('%s: country %s, AS%s', (ip, country, asn) => {
    expect(info.lookup(ip)).toMatchObject({ country, asn });
  });

  it.each(['192.168.31.1', '10.0.0.1', '127.0.0.1', '203.0.113.10', 'fe80::1', '::1'])(
    '%s is private or special: nothing',
    (ip) => {
      expect(info.lookup(ip)).toEqual({});
    },
  );
});
