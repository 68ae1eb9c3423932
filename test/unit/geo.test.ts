import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { loadOfflineIpInfo } from '../../core/geo/ipInfo.ts';
import { encodeIpTable, IpTable, ipv4ToNumber, ipv6Top64 } from '../../core/geo/ipTable.ts';

describe('IpTable', () => {
  const bytes = encodeIpTable({
    asnV4: [
      { start: 0x01000000n, end: 0x010000ffn, asn: 13335, organisation: 'Cloudflare, Inc.' },
      { start: 0x08080800n, end: 0x08080bffn, asn: 15169, organisation: 'Google LLC' },
    ],
    asnV6: [
      {
        start: 0x20014860000000000000000000000000n,
        end: 0x20014860ffffffffffffffffffffffffn,
        asn: 15169,
        organisation: 'Google LLC',
      },
    ],
    countryV4: [
      { start: 0x01000000n, end: 0x010003ffn, country: 'AU' },
      { start: 0x08000000n, end: 0x08ffffffn, country: 'US' },
    ],
    countryV6: [
      { start: 0x20014800000000000000000000000000n, end: 0x20014bffffffffffffffffffffffffffn, country: 'US' },
    ],
  });
  const table = new IpTable(bytes, 'test');

  it('finds the ranges an address falls in, IPv4 and IPv6', () => {
    expect(table.lookup('1.0.0.1')).toEqual({
      country: 'AU',
      asn: 13335,
      asOrganisation: 'Cloudflare, Inc.',
    });
    expect(table.lookup('8.8.8.8')).toEqual({ country: 'US', asn: 15169, asOrganisation: 'Google LLC' });
    expect(table.lookup('2001:4860:4860::8888')).toEqual({
      country: 'US',
      asn: 15169,
      asOrganisation: 'Google LLC',
    });
  });

  it('answers each part only when a range holds it', () => {
    expect(table.lookup('1.0.1.0')).toEqual({ country: 'AU' });
    expect(table.lookup('8.1.2.3')).toEqual({ country: 'US' });
    expect(table.lookup('0.0.0.1')).toEqual({});
    expect(table.lookup('2001:4861::1')).toEqual({ country: 'US' });
    expect(table.lookup('2001:4c00::1')).toEqual({});
  });

  it('finds nothing for text that is not an address', () => {
    for (const text of [
      'not an ip',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1..2.3',
      '1:2::3::4',
      'fe80::1%eth0',
      '',
    ])
      expect(table.lookup(text)).toEqual({});
  });

  it('reads a table at any byte offset (copied when unaligned)', () => {
    const shifted = Buffer.alloc(bytes.length + 1);
    bytes.copy(shifted, 1);
    expect(new IpTable(shifted.subarray(1), 'shifted').lookup('8.8.8.8')).toEqual(table.lookup('8.8.8.8'));
  });

  it('rejects a file that is not a table, or a truncated one', () => {
    expect(() => new IpTable(Buffer.from('hello'), 'x.bin')).toThrow(
      'x.bin is not a leakwatch IP table (run npm run build:data)',
    );
    expect(() => new IpTable(bytes.subarray(0, bytes.length - 3), 'cut.bin')).toThrow(
      'cut.bin is truncated or damaged (run npm run build:data)',
    );
  });
});

describe('address parsing', () => {
  it('reads every dotted quad as node:net does', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
        expect(ipv4ToNumber(ip)).toBe(((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
      }),
    );
  });

  it('takes the top 64 bits of every IPv6 form', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const expanded = expand(ip);
        expect(ipv6Top64(ip)).toEqual([
          Number.parseInt(expanded.slice(0, 8), 16),
          Number.parseInt(expanded.slice(8, 16), 16),
        ]);
      }),
    );
    expect(ipv6Top64('::ffff:1.2.3.4')).toEqual([0, 0]);
    expect(ipv6Top64('2001:db8::')).toEqual([0x20010db8, 0]);
    expect(ipv6Top64('1.2.3.4')).toBeUndefined();
    expect(ipv6Top64('1:2:3:4:5:6:7')).toBeUndefined();
    expect(ipv6Top64('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(ipv6Top64('12345::')).toBeUndefined();
  });
});

/** The 32 hex digits of an IPv6 address, by URL's parser (an independent implementation). */
function expand(ip: string): string {
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = host.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = host.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

describe('offline IP information (shipped table)', () => {
  const warnings: string[] = [];
  const info = loadOfflineIpInfo({}, (m) => void warnings.push(m));

  it('has the table (npm install builds it)', () => {
    expect(warnings).toEqual([]);
  });

  it.each([
    ['8.8.8.8', 'US', 15169],
    ['1.1.1.1', 'AU', 13335],
    ['2001:4860:4860::8888', 'US', 15169],
  ])('%s: country %s, AS%s', (ip, country, asn) => {
    expect(info.lookup(ip)).toMatchObject({ country, asn });
  });

  it.each(['192.168.31.1', '10.0.0.1', '127.0.0.1', '203.0.113.10', '100.64.1.1', 'fe80::1', '::1'])(
    '%s is private or special: nothing',
    (ip) => {
      expect(info.lookup(ip)).toEqual({});
    },
  );

  it('warns, and answers nothing, without a table', () => {
    const missing: string[] = [];
    const none = loadOfflineIpInfo({ ipTable: '/nonexistent/ip-table.bin' }, (m) => void missing.push(m));
    expect(none.lookup('8.8.8.8')).toEqual({});
    expect(missing).toEqual([
      'no IP table at /nonexistent/ip-table.bin (npm run build:data): destinations get no country and no network owner',
    ]);
  });
});
