import { createHash } from 'node:crypto';
import { luhnCheckDigit } from '../core/classify/luhn.ts';
import { consentOfProfile, loadConsentProfiles } from '../core/consent/profiles.ts';
import type { LabContext } from '../schema/flowRecord.ts';
import { dnsMessage, type Host, PcapWriter, tlsClientHello } from './pcapWriter.ts';

/**
 * The bundled lab scenario, modelled on F-Secure's 2014 test of a Xiaomi RedMi 1S: one device,
 * three builds of one firmware line. Build identifiers, addresses and planted values are
 * fictional; host names are real Xiaomi endpoints (see core/catalog/destinations.json for sources).
 */

const IMEI_BODY = '86469002012345';
/** The planted identifiers: what the lab knows about the device and put on it for this test. */
export const PLANTED = {
  imei: `${IMEI_BODY}${luhnCheckDigit(IMEI_BODY)}`,
  phoneNumber: '+86 138 0013 8000',
  carrier: 'China Mobile',
  contactName: 'Canary Contact',
  contactNumber: '+86 139 1099 8765',
  smsText: 'leakwatch canary 7f3a: meet at 6',
} as const;

const device: Host = { mac: '64:09:80:11:22:33', ip: '192.168.31.23' };
const gateway: Host = { mac: '28:6c:07:aa:bb:cc', ip: '192.168.31.1' };
/** Servers are reached through the gateway's MAC; only their IPs differ. */
const server = (ip: string): Host => ({ mac: gateway.mac, ip });
const ACCOUNT_HOST = 'api.account.xiaomi.com';
const ACCOUNT_IP = '203.0.113.10';
const OTA_HOST = 'update.miui.com';
const OTA_IP = '203.0.113.20';

const deviceContext = { id: 'lab-redmi1s-01', vendor: 'Xiaomi', model: 'RedMi 1S', region: 'CN' } as const;
const line = 'MIUI-V5-CN-stable';

/** What the lab registers for this device before testing (as `leakwatch devices register` would). */
export const REGISTRATION = {
  deviceId: 'lab-redmi1s-01',
  values: [
    { dataType: 'imei', value: PLANTED.imei },
    { dataType: 'phone-number', value: PLANTED.phoneNumber },
    { dataType: 'contact', value: PLANTED.contactName, canary: true },
    { dataType: 'contact', value: PLANTED.contactNumber, canary: true },
    { dataType: 'sms-content', value: PLANTED.smsText, canary: true },
  ],
} as const;

export interface ScenarioBuild {
  readonly name: string;
  readonly context: LabContext;
  readonly capture: Buffer;
}

/** Deterministic bytes standing in for randomness (TLS random), so regenerating gives identical files. */
const pseudoRandom = (seed: string) => createHash('sha256').update(seed).digest();

function dns(writer: PcapWriter, id: number, name: string, address: string): void {
  writer.udp(device, 40000 + id, gateway, 53, dnsMessage(id, name));
  writer.udp(gateway, 53, device, 40000 + id, dnsMessage(id, name, { addresses: [address] }));
  writer.wait(5_000);
}

function tls(writer: PcapWriter, port: number, host: string, ip: string, seed: string): void {
  // Server bytes: a ServerHello-shaped record header, enough to mark the flow as TLS on both sides.
  const serverHello = Buffer.concat([Buffer.from([22, 3, 3, 0, 4]), Buffer.from([2, 0, 0, 0])]);
  writer.tcpConversation(
    device,
    port,
    server(ip),
    443,
    tlsClientHello(host, pseudoRandom(seed)),
    serverHello,
    port * 1000,
  );
  writer.wait(50_000);
}

function http(writer: PcapWriter, port: number, ip: string, request: string): void {
  const response =
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"code":0}\n';
  writer.tcpConversation(
    device,
    port,
    server(ip),
    80,
    Buffer.from(request),
    Buffer.from(response),
    port * 1000,
  );
  writer.wait(50_000);
}

function otaCheckRequest(build: string): string {
  return [
    `GET /updates/miota-v2.php?d=armani&b=F&c=4.4&r=cn&v=${build} HTTP/1.1`,
    `Host: ${OTA_HOST}`,
    'User-Agent: MIUI-Updater/5.0',
    'Accept-Encoding: gzip',
    'Connection: close',
    '',
    '',
  ].join('\r\n');
}

function formPost(path: string, fields: Record<string, string>): string {
  const body = new URLSearchParams(fields).toString();
  return [
    `POST ${path} HTTP/1.1`,
    `Host: ${ACCOUNT_HOST}`,
    'Content-Type: application/x-www-form-urlencoded',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function jsonPost(path: string, value: unknown): string {
  const body = JSON.stringify(value);
  return [
    `POST ${path} HTTP/1.1`,
    `Host: ${ACCOUNT_HOST}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Every session of the scenario is an out-of-box test (core/consent/profiles.json). */
const OUT_OF_BOX = consentOfProfile('out-of-box', loadConsentProfiles(undefined));

export function buildScenario(): ScenarioBuild[] {
  const builds: ScenarioBuild[] = [];

  // Build 1: DNS, TLS to the account host, a plaintext OTA update check without identifiers.
  {
    const build = 'KHHCNBH38.0';
    const w = new PcapWriter(Date.UTC(2014, 7, 1, 9, 0, 0) * 1000);
    dns(w, 1, ACCOUNT_HOST, ACCOUNT_IP);
    dns(w, 2, OTA_HOST, OTA_IP);
    tls(w, 50001, ACCOUNT_HOST, ACCOUNT_IP, 'b1-account');
    http(w, 50002, OTA_IP, otaCheckRequest(build));
    builds.push({
      name: 'build-1',
      capture: w.toBuffer(),
      context: {
        device: deviceContext,
        firmware: { line, build, builtAt: '2014-07-15T00:00:00.000Z' },
        session: { id: 'redmi1s-b38-oobe', consentProfile: 'out-of-box', consent: OUT_OF_BOX },
      },
    });
  }

  // Build 2 (an OTA): cloud messaging posts identifiers and planted canaries in plaintext, no opt-in.
  {
    const build = 'KHHCNBH39.0';
    const w = new PcapWriter(Date.UTC(2014, 7, 8, 9, 0, 0) * 1000);
    dns(w, 1, ACCOUNT_HOST, ACCOUNT_IP);
    dns(w, 2, OTA_HOST, OTA_IP);
    tls(w, 50101, ACCOUNT_HOST, ACCOUNT_IP, 'b2-account');
    http(w, 50102, OTA_IP, otaCheckRequest(build));
    http(
      w,
      50103,
      ACCOUNT_IP,
      formPost('/pass/v2/cloudmsg/register', {
        imei: PLANTED.imei,
        phone: PLANTED.phoneNumber,
        carrier: PLANTED.carrier,
        lang: 'zh_CN',
      }),
    );
    http(
      w,
      50104,
      ACCOUNT_IP,
      jsonPost('/pass/v2/cloudmsg/sync', {
        device: { imei: PLANTED.imei, msisdn: PLANTED.phoneNumber, operator: PLANTED.carrier },
        contacts: [{ name: PLANTED.contactName, number: PLANTED.contactNumber }],
        sms: [{ to: PLANTED.contactNumber, body: PLANTED.smsText, ts: 1407488400000 }],
      }),
    );
    builds.push({
      name: 'build-2',
      capture: w.toBuffer(),
      context: {
        device: deviceContext,
        firmware: { line, build, builtAt: '2014-08-05T00:00:00.000Z' },
        session: { id: 'redmi1s-b39-oobe', consentProfile: 'out-of-box', consent: OUT_OF_BOX },
      },
    });
  }

  // Build 3 (the fix, an OTA): the same out-of-box test again. Cloud messaging is opt-in now and
  // sends nothing; the account host and the update check go over TLS.
  {
    const build = 'KHHCNBH40.0';
    const w = new PcapWriter(Date.UTC(2014, 7, 15, 9, 0, 0) * 1000);
    dns(w, 1, ACCOUNT_HOST, ACCOUNT_IP);
    dns(w, 2, OTA_HOST, OTA_IP);
    tls(w, 50201, ACCOUNT_HOST, ACCOUNT_IP, 'b3-account');
    tls(w, 50202, OTA_HOST, OTA_IP, 'b3-ota');
    builds.push({
      name: 'build-3',
      capture: w.toBuffer(),
      context: {
        device: deviceContext,
        firmware: { line, build, builtAt: '2014-08-12T00:00:00.000Z' },
        session: { id: 'redmi1s-b40-oobe', consentProfile: 'out-of-box', consent: OUT_OF_BOX },
      },
    });
  }
  return builds;
}
