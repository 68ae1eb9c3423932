import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { byClientPort, fixturesDir, probeFixture, zeekLog } from '../helpers/fixtures.ts';

/**
 * The probe against other projects' expectations: Zeek's btest baselines and Suricata's
 * suricata-verify checks (test/fixtures/*\/MANIFEST.txt). Conventions, from those manifests:
 * Zeek orig_bytes/resp_bytes = transport payload bytes (our flow.payloadBytes), orig_ip_bytes/
 * resp_ip_bytes = IP bytes (our flow.bytes); Suricata bytes_toserver/toclient = whole frames, i.e.
 * our IP bytes plus the link header of each packet (14 for Ethernet, 18 with one 802.1Q tag).
 * Zeek's http.log keeps the port in `host` and percent-decodes `uri`; we strip the port (the name
 * is for classification) and keep the target as sent.
 */
const conn = (r: FlowRecord) => ({
  orig: `${r.flow.client?.ip}:${r.flow.client?.port}`,
  resp: `${r.flow.server.ip}:${r.flow.server.port}`,
  proto: r.flow.protocol,
  orig_pkts: r.flow.packets.toServer,
  resp_pkts: r.flow.packets.toClient,
  orig_bytes: r.flow.payloadBytes.toServer,
  resp_bytes: r.flow.payloadBytes.toClient,
  orig_ip_bytes: r.flow.bytes.toServer,
  resp_ip_bytes: r.flow.bytes.toClient,
});
const zeekConn = (row: Record<string, string>) => ({
  orig: `${row['id.orig_h']}:${row['id.orig_p']}`,
  resp: `${row['id.resp_h']}:${row['id.resp_p']}`,
  proto: row.proto,
  orig_pkts: Number(row.orig_pkts),
  resp_pkts: Number(row.resp_pkts),
  orig_bytes: Number(row.orig_bytes),
  resp_bytes: Number(row.resp_bytes),
  orig_ip_bytes: Number(row.orig_ip_bytes),
  resp_ip_bytes: Number(row.resp_ip_bytes),
});
/** Zeek's ssl.log version names. */
const zeekTlsVersion = (version: string | undefined) =>
  version?.replace(
    /^TLS (\d)\.(\d)( draft (\d+))?$/,
    (_, major, minor, draft, n) => `TLSv${major}${minor}${draft ? `-draft${n}` : ''}`,
  );

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : /\.(pcap|pcapng)$/.test(name) ? [path] : [];
  });
}

describe('every trace in the corpus', () => {
  const traces = walk(fixturesDir).map((path) => relative(fixturesDir, path));

  it('has the traces the manifests list', () => {
    expect(traces.length).toBeGreaterThanOrEqual(37);
  });

  it.each(traces)('%s is read without an exception', async (trace) => {
    const { records, stats } = await probeFixture(trace);

    expect(stats.packets).toBeGreaterThan(0);
    expect(records.length + stats.skipped.total).toBeGreaterThan(0);
  });
});

describe('Zeek conn.log', () => {
  it.each([
    ['zeek/traces/tcp-http-with-padding.pcap', 'core.tcp-padding/conn.log'],
    ['zeek/traces/pcapng-multi-interface.pcapng', 'core.pcapng-pktsrc/conn.log'],
    ['zeek/traces/q-in-q.pcap', 'core.q-in-q/conn.log'],
  ])('%s: endpoints, packets, payload and IP bytes per direction', async (trace, baseline) => {
    const { records } = await probeFixture(trace);
    const expected = (await zeekLog(baseline)).map(zeekConn);

    expect(records.map(conn)).toEqual(expect.arrayContaining(expected));
    expect(records).toHaveLength(expected.length);
  });

  it('reads HTTP on 802.1Q VLAN 0 and QinQ', async () => {
    for (const trace of ['zeek/traces/http-vlan-0.pcap', 'zeek/traces/http-qinq-0.pcap']) {
      const { records } = await probeFixture(trace);

      expect(records.map((r) => [r.application, r.names.httpHost])).toEqual([['http', 'bro.org']]);
    }
  });

  it('keeps IPv6 atomic fragments as whole datagrams (4 HTTP flows)', async () => {
    const { records } = await probeFixture('zeek/traces/ipv6-http-atomic-frag.pcap');
    const http = records
      .filter((r) => r.flow.server.port === 80)
      .map((r) => `${r.flow.client?.ip}:${r.flow.client?.port}>${r.flow.server.ip}`);

    expect(http.sort()).toEqual([
      '2001:db8:1::2:27393>2001:db8:1::1',
      '2001:db8:1::2:36951>2001:db8:1::1',
      '2001:db8:1::2:45805>2001:db8:1::1',
      '2001:db8:1::2:59694>2001:db8:1::1',
    ]);
  });
});

describe('Zeek http.log', () => {
  it('pipelining: five requests on one connection, in order', async () => {
    const { records } = await probeFixture('zeek/traces/http/pipelined-requests.pcap');
    const expected = await zeekLog('scripts.base.protocols.http.http-pipelining/http.log');
    const flow = byClientPort(records, 1673);

    expect(flow.http!.map((h) => [h.method, h.host, h.target, h.userAgent])).toEqual(
      expected.map((row) => [row.method, row.host, row.uri, row.user_agent]),
    );
  });

  it.each([
    ['zeek/traces/http/100-continue.pcap', 'scripts.base.protocols.http.100-continue/http.log'],
    [
      'zeek/traces/http/multipart-form-data.pcap',
      'scripts.base.protocols.http.multipart-body-length/http.log',
    ],
    ['zeek/traces/tcp-http-with-padding.pcap', 'core.tcp-padding/http.log'],
  ])('%s: method, host, URI and request body length', async (trace, baseline) => {
    const { records } = await probeFixture(trace);
    const [row] = await zeekLog(baseline);
    const flow = byClientPort(records, Number(row!['id.orig_p']));
    const request = flow.http![0]!;

    expect(request.method).toBe(row!.method);
    expect(request.host ?? '-').toBe(row!.host!.replace(/:\d+$/, ''));
    expect(request.target).toBe(row!.uri);
    expect(request.bodyBytes).toBe(Number(row!.request_body_len));
  });

  it('methods: every request line Zeek logs (odd methods, HTTP/0.9, bare LF) and none it rejects', async () => {
    const { records } = await probeFixture('zeek/traces/http/methods.pcap');
    const expected = await zeekLog('scripts.base.protocols.http.http-methods/http.log');

    expect(expected).toHaveLength(49);
    for (const row of expected) {
      const request = byClientPort(records, Number(row['id.orig_p'])).http?.[0];
      const got = request ? [request.method, request.host, request.target || '(empty)'] : ['-', '-', '-'];
      expect([row['id.orig_p'], ...got]).toEqual([row['id.orig_p'], row.method, row.host, row.uri]);
    }
  });

  it('pcapng with percent-encoded queries (URI compared decoded, as Zeek logs it)', async () => {
    const { records } = await probeFixture('zeek/traces/http/cooper-grill-dvwa.pcapng');
    const expected = (
      await zeekLog('scripts.policy.protocols.http.sql-injection-plus-dvwa2/http.log.cut')
    ).map((row) => [row.method, row.host, row.uri]);
    const requests = records
      .flatMap((r) => r.http ?? [])
      .map((h) => [h.method, h.host, decodeURIComponent(h.target)]);

    expect(requests).toEqual(expect.arrayContaining(expected));
    expect(requests).toHaveLength(expected.length);
  });
});

describe('Zeek ssl.log', () => {
  it.each([
    ['zeek/traces/tls/tls-conn-with-extensions.pcap', 'scripts.base.protocols.ssl.basic/ssl.log'],
    ['zeek/traces/tls/tls1.2.pcap', 'scripts.base.protocols.ssl.tls-1.2/ssl.log'],
    ['zeek/traces/tls/tls13-ech.pcap', 'scripts.base.protocols.ssl.tls13-encrypted-client-hello/ssl.log'],
    [
      'zeek/traces/tls/tls13draft23-chrome67.0.3368.0-canary.pcap',
      'scripts.base.protocols.ssl.tls13-version/ssl.log',
    ],
  ])('%s: negotiated version and server name', async (trace, baseline) => {
    const { records } = await probeFixture(trace);
    const expected = await zeekLog(baseline);

    for (const row of expected) {
      const flow = byClientPort(records, Number(row['id.orig_p']));
      expect([zeekTlsVersion(flow.tls?.version), flow.tls?.sni ?? '-']).toEqual([
        row.version,
        row.server_name,
      ]);
      expect(flow.transport).toBe('tls');
    }
    expect(records.filter((r) => r.application === 'tls')).toHaveLength(expected.length);
  });

  it('marks Encrypted Client Hello offers', async () => {
    const { records } = await probeFixture('zeek/traces/tls/tls13-ech.pcap');

    expect(records.filter((r) => r.tls?.ech).map((r) => r.names.sni)).toEqual([
      'cloudflare-ech.com',
      'cloudflare-ech.com',
    ]);
  });
});

describe('Zeek dns.log', () => {
  it('a lone response from port 53 to 53 is flipped: its receiver asked', async () => {
    const { records } = await probeFixture('zeek/traces/dns53.pcap');
    const [row] = await zeekLog('scripts.base.protocols.dns.flip/dns.log');
    const [flow] = records;

    expect(conn(flow!).orig).toBe(`${row!['id.orig_h']}:${row!['id.orig_p']}`);
    expect(flow!.dns!.queries.map((q) => q.name)).toEqual([row!.query]);
    expect(flow!.dns!.answers.map((a) => a.value).join(',')).toBe(row!.answers);
    expect(flow!.dns!.answers.map((a) => a.ttl.toFixed(6)).join(',')).toBe(row!.TTLs);
  });

  it('reassembles IPv6-fragmented DNS responses', async () => {
    const { records } = await probeFixture('zeek/traces/ipv6-fragmented-dns.pcap');
    const expected = (await zeekLog('core.ipv6-frag/dns.log')).filter((row) => row.rcode_name === 'NOERROR');

    for (const row of expected) {
      const flow = byClientPort(records, Number(row['id.orig_p']));
      expect(flow.dns!.queries[0]!.name).toBe(row.query);
      expect(flow.dns!.answers[0]!.value.startsWith('This TXT record should be ignored')).toBe(true);
      expect(row.answers!.startsWith('TXT 33 This TXT record should be ignored')).toBe(true);
    }
    expect(byClientPort(records, 51851).flow.payloadBytes.toClient).toBe(3238 - 8); // UDP length 3238 per Zeek's output
  });

  it('lowercases query names (Zeek: query; original_query keeps the case)', async () => {
    const { records } = await probeFixture('zeek/traces/dns_original_case.pcap');
    const [row] = await zeekLog('scripts.policy.protocols.dns.original_case/dns.log');

    expect(records[0]!.dns!.queries).toEqual([{ name: row!.query, type: row!.qtype_name }]);
  });
});

describe('Zeek truncation traces', () => {
  it.each([
    ['zeek/traces/trunc/ip4-trunc.pcap', 'truncated-ip'],
    ['zeek/traces/trunc/ip6-trunc.pcap', 'truncated-ip'],
    ['zeek/traces/trunc/ip6-ext-trunc.pcap', 'truncated-ip'],
    ['zeek/traces/trunc/ipv4-truncated-broken-header.pcap', 'truncated-ip'],
    ['zeek/traces/trunc/ipv4-internally-truncated-header.pcap', 'truncated-ip'],
    ['zeek/traces/trunc/trunc-hdr.pcap', 'truncated-link-header'],
    ['zeek/traces/trunc/ip-discarder-truncated-tcp-oob.pcapng', 'truncated-tcp'],
  ])('%s is counted as %s and skipped', async (trace, reason) => {
    const { records, stats } = await probeFixture(trace);

    expect(records).toEqual([]);
    expect(Object.fromEntries(stats.skipped.counts)).toEqual({ [reason]: 1 });
  });
});

describe('Suricata eve.json', () => {
  it('bug-2646-01: TLS 1.2 SNI, and one flow of 10/19 packets (late FIN retransmissions included)', async () => {
    const { records } = await probeFixture('suricata-verify/tests/bug-2646-01/input.pcap');
    const [flow] = records;

    expect(records).toHaveLength(1);
    expect([flow!.tls?.sni, flow!.tls?.version]).toEqual(['raw.githubusercontent.com', 'TLS 1.2']);
    expect(flow!.flow.packets).toEqual({ toServer: 10, toClient: 19 });
    expect(flow!.flow.bytes).toEqual({ toServer: 1584 - 14 * 10, toClient: 6151 - 14 * 19 });
  });

  it('bug-814: HTTP over IPv6 link-local on VLAN 1111', async () => {
    const { records } = await probeFixture('suricata-verify/tests/bug-814/input.pcap');
    const [flow] = records;

    expect(flow!.flow.client).toEqual({ ip: 'fe80::20c:29ff:fef3:cf38', port: 58307 });
    expect(flow!.http![0]).toMatchObject({
      method: 'GET',
      host: 'www.net1.bg',
      target: '/cgi-bin/cart32.exe',
      userAgent: 'Mozilla/4.75 (Nikto/2.1.4) (Evasions:None) (Test:000003)',
      bodyBytes: 0,
    });
    expect(flow!.flow.packets).toEqual({ toServer: 4, toClient: 3 });
    expect(flow!.flow.bytes).toEqual({ toServer: 461 - 18 * 4, toClient: 234 - 18 * 3 });
  });

  it('community-id-ipv6: TLS 1.3 over IPv6, SNI and flow counts', async () => {
    const { records } = await probeFixture('suricata-verify/tests/community-id-ipv6/input.pcap');
    const google = byClientPort(records, 60202);
    const dns = byClientPort(records, 33892);

    expect([google.flow.server.ip, google.tls?.sni, google.tls?.version]).toEqual([
      '2607:f8b0:400a:800::200e',
      'ipv6.google.com',
      'TLS 1.3',
    ]);
    expect([dns.flow.server.ip, dns.tls?.sni, dns.tls?.version]).toEqual([
      '2001:4860:4860::8888',
      'dns.google',
      'TLS 1.3',
    ]);
    expect(dns.flow.packets).toEqual({ toServer: 17, toClient: 17 });
    expect(dns.flow.bytes).toEqual({ toServer: 2303 - 14 * 17, toClient: 7122 - 14 * 17 });
  });

  it('dns-udp-eve-dig: query and CNAME + A answers with TTLs', async () => {
    const { records } = await probeFixture('suricata-verify/tests/cond-log-dns-dig/input.pcap');
    const [flow] = records;

    expect(flow!.flow.client).toEqual({ ip: '10.16.1.11', port: 41805 });
    expect(flow!.dns).toEqual({
      queries: [{ name: 'www.suricata-ids.org', type: 'A' }],
      answers: [
        { name: 'www.suricata-ids.org', type: 'CNAME', value: 'suricata-ids.org', ttl: 3544 },
        { name: 'suricata-ids.org', type: 'A', value: '192.0.78.24', ttl: 244 },
        { name: 'suricata-ids.org', type: 'A', value: '192.0.78.25', ttl: 244 },
      ],
    });
  });

  it('http-ipv6 and http-all-headers: host names', async () => {
    const ipv6 = await probeFixture('suricata-verify/tests/http-ipv6/input.pcap');
    const headers = await probeFixture('suricata-verify/tests/http-all-headers/input.pcap');

    expect(ipv6.records[0]!.names.httpHost).toBe('[::1]');
    expect(headers.records[0]!.names.httpHost).toBe('www.ethereal.com');
  });

  it('ipv4-truncated: a packet shorter than its IP length is a decoder event, not a flow', async () => {
    const { records, stats } = await probeFixture('suricata-verify/tests/ipv4-truncated/truncated.pcap');

    expect(records).toEqual([]);
    expect(Object.fromEntries(stats.skipped.counts)).toEqual({ 'truncated-ip': 1 });
  });
});
