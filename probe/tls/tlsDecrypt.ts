import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { ConnectionSecrets } from './keyLog.ts';

/**
 * Decrypts what a TLS client sent, given the connection's secrets from a key log: TLS 1.3 (RFC 8446)
 * and TLS 1.2 (RFC 5246) with AES-GCM (RFC 5288), ChaCha20-Poly1305 (RFC 7905) or AES-CBC with HMAC
 * (RFC 5246 §6.2.3.2, encrypt-then-MAC per RFC 7366).
 * Only the client's direction is decrypted: that is where a device's requests, and its leaks, are.
 * The server's plaintext ServerHello gives the suite (and, for TLS 1.2, the server random).
 *
 * Every step is bounded by its input: records are walked once, each opened at most a few times
 * (the keys its phase allows), and the plaintext is at most the ciphertext kept.
 */

type Hash = 'sha256' | 'sha384';
type AeadCipher = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
type CbcCipher = 'aes-128-cbc' | 'aes-256-cbc';

interface Suite {
  readonly name: string;
  readonly cipher: AeadCipher | CbcCipher;
  readonly keyLength: number;
  /** The PRF's hash (TLS 1.2) or HKDF's (TLS 1.3). */
  readonly hash: Hash;
  /** CBC suites: the record MAC (HMAC) and its key and output length. */
  readonly mac?: 'sha1' | 'sha256' | 'sha384';
  readonly macLength?: number;
}

const AES128_SHA256 = { cipher: 'aes-128-gcm', keyLength: 16, hash: 'sha256' } as const;
const AES256_SHA384 = { cipher: 'aes-256-gcm', keyLength: 32, hash: 'sha384' } as const;
const CHACHA_SHA256 = { cipher: 'chacha20-poly1305', keyLength: 32, hash: 'sha256' } as const;
const CBC128_SHA1 = {
  cipher: 'aes-128-cbc',
  keyLength: 16,
  hash: 'sha256',
  mac: 'sha1',
  macLength: 20,
} as const;
const CBC256_SHA1 = {
  cipher: 'aes-256-cbc',
  keyLength: 32,
  hash: 'sha256',
  mac: 'sha1',
  macLength: 20,
} as const;
const CBC128_SHA256 = {
  cipher: 'aes-128-cbc',
  keyLength: 16,
  hash: 'sha256',
  mac: 'sha256',
  macLength: 32,
} as const;
const CBC256_SHA256 = {
  cipher: 'aes-256-cbc',
  keyLength: 32,
  hash: 'sha256',
  mac: 'sha256',
  macLength: 32,
} as const;
const CBC256_SHA384 = {
  cipher: 'aes-256-cbc',
  keyLength: 32,
  hash: 'sha384',
  mac: 'sha384',
  macLength: 48,
} as const;

/** TLS 1.3 cipher suites (RFC 8446 §B.4). */
/** A suite whose records are AEAD-protected (every TLS 1.3 suite). */
type AeadSuite = Suite & { readonly cipher: AeadCipher };

const TLS13_SUITES: ReadonlyMap<number, AeadSuite> = new Map([
  [0x1301, { name: 'TLS_AES_128_GCM_SHA256', ...AES128_SHA256 }],
  [0x1302, { name: 'TLS_AES_256_GCM_SHA384', ...AES256_SHA384 }],
  [0x1303, { name: 'TLS_CHACHA20_POLY1305_SHA256', ...CHACHA_SHA256 }],
]);

/** TLS 1.2 cipher suites: AES-GCM (RFC 5288 §3, RFC 5289 §3.2), ChaCha20-Poly1305 (RFC 7905 §2), AES-CBC with HMAC. */
const TLS12_SUITES: ReadonlyMap<number, Suite> = new Map([
  [0x009c, { name: 'TLS_RSA_WITH_AES_128_GCM_SHA256', ...AES128_SHA256 }],
  [0x009d, { name: 'TLS_RSA_WITH_AES_256_GCM_SHA384', ...AES256_SHA384 }],
  [0x009e, { name: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', ...AES128_SHA256 }],
  [0x009f, { name: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', ...AES256_SHA384 }],
  [0xc02b, { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', ...AES128_SHA256 }],
  [0xc02c, { name: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', ...AES256_SHA384 }],
  [0xc02f, { name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', ...AES128_SHA256 }],
  [0xc030, { name: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', ...AES256_SHA384 }],
  [0xcca8, { name: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', ...CHACHA_SHA256 }],
  [0xcca9, { name: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', ...CHACHA_SHA256 }],
  [0xccaa, { name: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256', ...CHACHA_SHA256 }],
  // CBC with HMAC (RFC 5246 §6.2.3.2, RFC 4492 / RFC 5289 suites): the PRF is SHA-256 unless the suite says SHA-384.
  [0x002f, { name: 'TLS_RSA_WITH_AES_128_CBC_SHA', ...CBC128_SHA1 }],
  [0x0035, { name: 'TLS_RSA_WITH_AES_256_CBC_SHA', ...CBC256_SHA1 }],
  [0x003c, { name: 'TLS_RSA_WITH_AES_128_CBC_SHA256', ...CBC128_SHA256 }],
  [0x003d, { name: 'TLS_RSA_WITH_AES_256_CBC_SHA256', ...CBC256_SHA256 }],
  [0x0033, { name: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA', ...CBC128_SHA1 }],
  [0x0039, { name: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA', ...CBC256_SHA1 }],
  [0x0067, { name: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256', ...CBC128_SHA256 }],
  [0x006b, { name: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256', ...CBC256_SHA256 }],
  [0xc009, { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', ...CBC128_SHA1 }],
  [0xc00a, { name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', ...CBC256_SHA1 }],
  [0xc013, { name: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', ...CBC128_SHA1 }],
  [0xc014, { name: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', ...CBC256_SHA1 }],
  [0xc023, { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', ...CBC128_SHA256 }],
  [0xc024, { name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', ...CBC256_SHA384 }],
  [0xc027, { name: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', ...CBC128_SHA256 }],
  [0xc028, { name: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', ...CBC256_SHA384 }],
]);

/** Why a flow, or some of its records, could not be decrypted (counted per run). */
export type DecryptFailure =
  /** The server's ServerHello was not in the capture (its first bytes are needed for the suite). */
  | 'no-server-hello'
  /** A suite the probe does not decrypt (3DES, RC4, CAMELLIA, export…) or a version before TLS 1.2. */
  | 'unsupported-suite'
  /** The key log lacks the secret this version needs (a TLS 1.3 traffic secret, a TLS 1.2 master secret). */
  | 'missing-secret'
  /** A record failed AEAD authentication (corrupt, or keys of another connection): skipped. */
  | 'authentication-failed'
  /** An encrypted record before the handshake keys applied (0-RTT early data without its key): skipped. */
  | 'early-data-without-key'
  /** The client renegotiated (TLS 1.2): what follows is under keys the probe did not derive. */
  | 'renegotiation'
  /** A record header that no TLS stack writes (length beyond the limit): the rest is not read. */
  | 'malformed-record';

export interface DecryptedClient {
  readonly version: 'TLS 1.2' | 'TLS 1.3';
  readonly suite: string;
  /** The client's application data, in order (TLS 1.3 early data included). */
  readonly plaintext: Buffer;
  /** Records decrypted (handshake and application). */
  readonly records: number;
  /** Records that could not be, and why (at most one reason stops the walk). */
  readonly failures: Partial<Record<DecryptFailure, number>>;
}

const RECORD = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
const HANDSHAKE = { clientHello: 1, serverHello: 2, finished: 20, keyUpdate: 24 } as const;
/** Largest TLSCiphertext fragment: 2^14 + 2048 (RFC 5246 §6.2.3; TLS 1.3 allows 2^14 + 256). */
const MAX_FRAGMENT = 16384 + 2048;
const TAG_LENGTH = 16;
/** SHA-256("HelloRetryRequest"): the random of a HelloRetryRequest (RFC 8446 §4.1.3). */
const HELLO_RETRY_RANDOM = Buffer.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c',
  'hex',
);

interface ServerHello {
  readonly random: Buffer;
  readonly suite: number;
  /** 0x0304 for TLS 1.3 (supported_versions, RFC 8446 §4.2.1), else legacy_version. */
  readonly version: number;
  /** The server agreed to encrypt-then-MAC for CBC suites (RFC 7366 §2, extension 22). */
  readonly encryptThenMac: boolean;
}

/** The handshake bytes of the plaintext records at the start of a stream (RFC 8446 §5.1). */
function leadingHandshake(stream: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset + 5 <= stream.length; ) {
    const type = stream[offset]!;
    const length = stream.readUInt16BE(offset + 3);
    if (type === RECORD.handshake)
      parts.push(stream.subarray(offset + 5, Math.min(stream.length, offset + 5 + length)));
    else if (type !== RECORD.changeCipherSpec) break;
    offset += 5 + length;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * The ServerHello that set the connection's parameters: the first one that is not a
 * HelloRetryRequest (RFC 8446 §4.1.4: the client then sends a second ClientHello).
 */
export function parseServerHello(server: Buffer): ServerHello | null {
  const hs = leadingHandshake(server);
  for (let offset = 0; offset + 4 <= hs.length; ) {
    const type = hs[offset]!;
    const length = hs.readUIntBE(offset + 1, 3);
    const body = hs.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    if (type !== HANDSHAKE.serverHello) continue;
    if (body.length < 38) return null;
    const random = body.subarray(2, 34);
    let at = 35 + body[34]!; // legacy_session_id_echo
    if (at + 3 > body.length) return null;
    const suite = body.readUInt16BE(at);
    at += 3; // cipher_suite, legacy_compression_method
    let version = body.readUInt16BE(0);
    let encryptThenMac = false;
    if (at + 2 <= body.length) {
      const end = Math.min(body.length, at + 2 + body.readUInt16BE(at));
      for (at += 2; at + 4 <= end; ) {
        const extension = body.readUInt16BE(at);
        const size = body.readUInt16BE(at + 2);
        if (extension === 43 && size === 2 && at + 6 <= end) version = body.readUInt16BE(at + 4);
        if (extension === 22) encryptThenMac = true;
        at += 4 + size;
      }
    }
    if (random.equals(HELLO_RETRY_RANDOM)) continue;
    return { random: Buffer.from(random), suite, version, encryptThenMac };
  }
  return null;
}

/** The random of the ClientHello at the start of a client's stream (RFC 8446 §4.1.2), or null. */
export function clientRandom(client: Buffer): Buffer | null {
  // Record header (5), handshake type and length (4), legacy_version (2), then the 32-byte random.
  if (client.length < 43 || client[0] !== RECORD.handshake || client[5] !== HANDSHAKE.clientHello)
    return null;
  return client.subarray(11, 43);
}

/** Whether the ClientHello at the start of `client` offers 0-RTT data (early_data, RFC 8446 §4.2.10). */
export function offersEarlyData(client: Buffer): boolean {
  if (clientRandom(client) === null) return false;
  const end = Math.min(client.length, 5 + client.readUInt16BE(3));
  let at = 43; // record header, handshake header, legacy_version, random
  if (at >= end) return false;
  at += 1 + client[at]!; // legacy_session_id
  if (at + 2 > end) return false;
  at += 2 + client.readUInt16BE(at); // cipher_suites
  if (at >= end) return false;
  at += 1 + client[at]!; // legacy_compression_methods
  if (at + 2 > end) return false;
  const extensionsEnd = Math.min(end, at + 2 + client.readUInt16BE(at));
  for (at += 2; at + 4 <= extensionsEnd; at += 4 + client.readUInt16BE(at + 2))
    if (client.readUInt16BE(at) === 42) return true;
  return false;
}

/** HKDF-Expand (RFC 5869 §2.3). */
function hkdfExpand(hash: Hash, prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  let total = 0;
  for (let i = 1; total < length; i++) {
    previous = createHmac(hash, prk)
      .update(previous)
      .update(info)
      .update(Buffer.from([i]))
      .digest();
    blocks.push(previous);
    total += previous.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** HKDF-Expand-Label with an empty context (RFC 8446 §7.1). */
export function expandLabel(hash: Hash, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.alloc(4 + full.length);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  full.copy(info, 3);
  info[3 + full.length] = 0; // context: empty
  return hkdfExpand(hash, secret, info, length);
}

/** The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed), SHA-256 or the suite's hash. */
export function prf12(hash: Hash, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const blocks: Buffer[] = [];
  let a = labelSeed;
  let total = 0;
  while (total < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    blocks.push(block);
    total += block.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** What decrypting a client's records gave. */
function result(
  version: DecryptedClient['version'],
  suite: Suite,
  plaintext: Buffer[],
  records: number,
  failures: DecryptedClient['failures'],
): DecryptedClient {
  const joined = plaintext.length === 1 ? plaintext[0]! : Buffer.concat(plaintext);
  return { version, suite: suite.name, plaintext: joined, records, failures };
}

/** `iv` XOR the 64-bit record sequence number, left-padded (RFC 8446 §5.3, RFC 7905 §2). */
function xorNonce(iv: Buffer, sequence: number): Buffer {
  const nonce = Buffer.from(iv);
  let s = sequence;
  for (let i = nonce.length - 1; i >= nonce.length - 8 && s > 0; i--) {
    nonce[i]! ^= s & 0xff;
    s = Math.floor(s / 256);
  }
  return nonce;
}

/** AEAD open; null when authentication fails. */
function open(cipher: AeadCipher, key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | null {
  if (sealed.length < TAG_LENGTH) return null;
  const body = sealed.subarray(0, sealed.length - TAG_LENGTH);
  try {
    const decipher = createDecipheriv(cipher, key, nonce, {
      authTagLength: TAG_LENGTH,
    } as never) as ReturnType<typeof createDecipheriv> & {
      setAAD(aad: Buffer): void;
      setAuthTag(tag: Buffer): void;
    };
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
    const first = decipher.update(body);
    const last = decipher.final();
    return last.length === 0 ? first : Buffer.concat([first, last]);
  } catch {
    return null;
  }
}

/** A TLS 1.3 traffic key: its secret (for KeyUpdate), key, IV and sequence number. */
interface TrafficKeys {
  secret: Buffer;
  key: Buffer;
  iv: Buffer;
  sequence: number;
}

/** Key and IV from a traffic secret (RFC 8446 §7.3). */
function trafficKeys(suite: Suite, secret: Buffer): TrafficKeys {
  return {
    secret,
    key: expandLabel(suite.hash, secret, 'key', suite.keyLength),
    iv: expandLabel(suite.hash, secret, 'iv', 12),
    sequence: 0,
  };
}

/** Plaintext records of a stream, one at a time: header fields and the fragment. */
interface RecordView {
  readonly type: number;
  readonly header: Buffer;
  readonly fragment: Buffer;
}

/** The stream's complete records; stops at a cut record or a length no stack writes. */
function* records(stream: Buffer, failures: DecryptedClient['failures']): Generator<RecordView> {
  for (let offset = 0; offset + 5 <= stream.length; ) {
    const length = stream.readUInt16BE(offset + 3);
    if (length > MAX_FRAGMENT || stream[offset + 1] !== 3) {
      failures['malformed-record'] = (failures['malformed-record'] ?? 0) + 1;
      return;
    }
    if (offset + 5 + length > stream.length) return; // cut by the capture or the kept-bytes limit
    yield {
      type: stream[offset]!,
      header: stream.subarray(offset, offset + 5),
      fragment: stream.subarray(offset + 5, offset + 5 + length),
    };
    offset += 5 + length;
  }
}

const count = (failures: DecryptedClient['failures'], reason: DecryptFailure) => {
  failures[reason] = (failures[reason] ?? 0) + 1;
};

/** The handshake message types in a record's content (messages split across records are rare from a client). */
function handshakeTypes(content: Buffer): number[] {
  const types: number[] = [];
  for (let offset = 0; offset + 4 <= content.length; offset += 4 + content.readUIntBE(offset + 1, 3))
    types.push(content[offset]!);
  return types;
}

/**
 * Decrypts the client's side of a connection whose ClientHello starts `client`, with the server's
 * first bytes in `server`. Returns null with the reason when nothing can be decrypted.
 */
export function decryptClient(
  client: Buffer,
  server: Buffer,
  secrets: ConnectionSecrets,
): DecryptedClient | { failure: DecryptFailure } {
  const hello = parseServerHello(server);
  if (!hello) return { failure: 'no-server-hello' };
  if (hello.version === 0x0304) {
    const suite = TLS13_SUITES.get(hello.suite);
    if (!suite) return { failure: 'unsupported-suite' };
    if (!secrets.CLIENT_HANDSHAKE_TRAFFIC_SECRET && !secrets.CLIENT_TRAFFIC_SECRET_0)
      return { failure: 'missing-secret' };
    return decrypt13(client, suite, secrets);
  }
  const suite = hello.version === 0x0303 ? TLS12_SUITES.get(hello.suite) : undefined;
  if (!suite) return { failure: 'unsupported-suite' };
  if (!secrets.CLIENT_RANDOM) return { failure: 'missing-secret' };
  const random = clientRandom(client);
  if (!random) return { failure: 'malformed-record' };
  return decrypt12(client, suite, secrets.CLIENT_RANDOM, random, hello.random, hello.encryptThenMac);
}

/** TLS 1.3: the client's encrypted records, under its handshake keys until its Finished, then its traffic keys. */
function decrypt13(client: Buffer, suite: AeadSuite, secrets: ConnectionSecrets): DecryptedClient {
  const failures: DecryptedClient['failures'] = {};
  const plaintext: Buffer[] = [];
  const size = suite.hash === 'sha384' ? 48 : 32;
  const usable = (secret: Buffer | undefined) => (secret && secret.length === size ? secret : undefined);
  const early = usable(secrets.CLIENT_EARLY_TRAFFIC_SECRET);
  const handshakeSecret = usable(secrets.CLIENT_HANDSHAKE_TRAFFIC_SECRET);
  const applicationSecret = usable(secrets.CLIENT_TRAFFIC_SECRET_0);
  const earlyKeys = early ? trafficKeys(suite, early) : undefined;
  const earlyData = offersEarlyData(client);
  const handshake = handshakeSecret ? trafficKeys(suite, handshakeSecret) : undefined;
  let application = applicationSecret ? trafficKeys(suite, applicationSecret) : undefined;
  let current: TrafficKeys | undefined = handshake ?? application;
  let inApplication = !handshake;
  let decrypted = 0;
  /** A record opened under the handshake keys: 0-RTT data (which comes before them) is over. */
  let handshakeOpened = false;
  /** RFC 8446 §5.2: additional_data is the record header; the nonce is iv XOR the sequence. */
  const tryOpen = (keys: TrafficKeys, record: RecordView) =>
    open(suite.cipher, keys.key, xorNonce(keys.iv, keys.sequence), record.header, record.fragment);
  for (const record of records(client, failures)) {
    if (record.type !== RECORD.applicationData) continue; // ClientHello(s), compatibility CCS, plain alerts
    let inner = current ? tryOpen(current, record) : null;
    if (inner) {
      current!.sequence++;
      if (current === handshake) handshakeOpened = true;
    } else if (!inApplication && !handshakeOpened && earlyKeys) {
      // 0-RTT data and EndOfEarlyData precede the client's handshake records (RFC 8446 §2.3, §4.5).
      inner = tryOpen(earlyKeys, record);
      if (inner) earlyKeys.sequence++;
    }
    if (!inner && !inApplication && application && current === handshake) {
      // A key log with the traffic secret but a handshake record we cannot place: try the traffic key.
      inner = tryOpen(application, record);
      if (inner) {
        application.sequence++;
        current = application;
        inApplication = true;
      }
    }
    if (!inner) {
      // Records before the client's handshake records are 0-RTT data when the ClientHello offered it.
      count(
        failures,
        earlyData && !handshakeOpened && !inApplication ? 'early-data-without-key' : 'authentication-failed',
      );
      // A record that fails is skipped; its sequence number was used (RFC 8446 §5.3).
      if (inApplication && current) current.sequence++;
      continue;
    }
    decrypted++;
    // TLSInnerPlaintext: content, then the real type, then zero padding (RFC 8446 §5.2).
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) continue;
    const type = inner[end - 1]!;
    const content = inner.subarray(0, end - 1);
    if (type === RECORD.applicationData) plaintext.push(content);
    else if (type === RECORD.handshake) {
      const types = handshakeTypes(content);
      if (!inApplication && types.includes(HANDSHAKE.finished)) {
        inApplication = true;
        current = application;
      } else if (inApplication && types.includes(HANDSHAKE.keyUpdate) && current) {
        // RFC 8446 §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length).
        application = trafficKeys(suite, expandLabel(suite.hash, current.secret, 'traffic upd', size));
        current = application;
      }
    }
  }
  return result('TLS 1.3', suite, plaintext, decrypted, failures);
}

/** TLS 1.2 sequence number, type, version and a length: the start of the AEAD additional data and of the MAC input (RFC 5246 §6.2.3.1, §6.2.3.3). */
function recordPseudoHeader(sequence: number, record: RecordView, length: number): Buffer {
  const head = Buffer.alloc(13);
  head.writeUInt32BE(Math.floor(sequence / 2 ** 32), 0);
  head.writeUInt32BE(sequence >>> 0, 4);
  head[8] = record.type;
  record.header.copy(head, 9, 1, 3);
  head.writeUInt16BE(length, 11);
  return head;
}

/** AES-CBC decryption without padding removal; null if the input is not whole blocks. */
function cbcDecrypt(cipher: CbcCipher, key: Buffer, iv: Buffer, data: Buffer): Buffer | null {
  if (data.length === 0 || data.length % 16 !== 0) return null;
  const decipher = createDecipheriv(cipher, key, iv);
  decipher.setAutoPadding(false);
  const first = decipher.update(data);
  const last = decipher.final();
  return last.length === 0 ? first : Buffer.concat([first, last]);
}

/** Removes TLS CBC padding (RFC 5246 §6.2.3.2: padding_length + 1 bytes, each equal to padding_length); null if malformed. */
function unpad(plain: Buffer): Buffer | null {
  const pad = plain[plain.length - 1]!;
  if (pad + 1 > plain.length) return null;
  for (let i = plain.length - 1 - pad; i < plain.length - 1; i++) if (plain[i] !== pad) return null;
  return plain.subarray(0, plain.length - 1 - pad);
}

/**
 * TLS 1.2: the client's records after its ChangeCipherSpec, sequence numbers from 0 (RFC 5246 §6.1),
 * opened by the suite's record protection: AEAD (RFC 5246 §6.2.3.3 with RFC 5288 or RFC 7905) or
 * CBC with HMAC (§6.2.3.2; MAC-then-encrypt, or encrypt-then-MAC when the ServerHello agreed to
 * RFC 7366).
 */
function decrypt12(
  client: Buffer,
  suite: Suite,
  masterSecret: Buffer,
  clientRandomBytes: Buffer,
  serverRandom: Buffer,
  encryptThenMac: boolean,
): DecryptedClient {
  const failures: DecryptedClient['failures'] = {};
  const plaintext: Buffer[] = [];
  const seed = Buffer.concat([serverRandom, clientRandomBytes]);
  let openRecord: (record: RecordView, sequence: number) => Buffer | null;
  if (suite.mac) {
    // RFC 5246 §6.3: key_block = client MAC key, server MAC key, client key, server key (block
    // ciphers in TLS 1.2 carry their IV in each record, §6.2.3.2).
    const { mac, keyLength } = suite;
    const macLength = suite.macLength ?? 0;
    const block = prf12(suite.hash, masterSecret, 'key expansion', seed, 2 * macLength + 2 * keyLength);
    const macKey = block.subarray(0, macLength);
    const key = block.subarray(2 * macLength, 2 * macLength + keyLength);
    const cipher = suite.cipher as CbcCipher;
    const hmac = (pseudo: Buffer, ...parts: Buffer[]) => {
      const h = createHmac(mac, macKey).update(pseudo);
      for (const part of parts) h.update(part);
      return h.digest();
    };
    openRecord = (record, sequence) => {
      const fragment = record.fragment;
      if (encryptThenMac) {
        // RFC 7366 §3: MAC(seq, type, version, length, IV + ciphertext) follows the ciphertext.
        if (fragment.length < 16 + macLength) return null;
        const sealed = fragment.subarray(0, fragment.length - macLength);
        const expected = hmac(recordPseudoHeader(sequence, record, sealed.length), sealed);
        if (!timingSafeEqual(expected, fragment.subarray(fragment.length - macLength))) return null;
        const plain = cbcDecrypt(cipher, key, sealed.subarray(0, 16), sealed.subarray(16));
        return plain ? unpad(plain) : null;
      }
      // MAC-then-encrypt: IV, then CBC(content + MAC + padding).
      const plain = cbcDecrypt(cipher, key, fragment.subarray(0, 16), fragment.subarray(16));
      const unpadded = plain ? unpad(plain) : null;
      if (!unpadded || unpadded.length < macLength) return null;
      const content = unpadded.subarray(0, unpadded.length - macLength);
      const expected = hmac(recordPseudoHeader(sequence, record, content.length), content);
      return timingSafeEqual(expected, unpadded.subarray(content.length)) ? content : null;
    };
  } else {
    // AEAD suites have no MAC keys; the IV is 4 bytes of salt for GCM (RFC 5288 §3), 12 for ChaCha (RFC 7905 §2).
    const ivLength = suite.cipher === 'chacha20-poly1305' ? 12 : 4;
    const block = prf12(suite.hash, masterSecret, 'key expansion', seed, 2 * suite.keyLength + 2 * ivLength);
    const key = block.subarray(0, suite.keyLength);
    const iv = block.subarray(2 * suite.keyLength, 2 * suite.keyLength + ivLength);
    const gcm = ivLength === 4;
    openRecord = (record, sequence) => {
      const sealed = gcm ? record.fragment.subarray(8) : record.fragment;
      if (sealed.length < TAG_LENGTH) return null;
      // GCM: nonce = salt || nonce_explicit, the fragment's first 8 bytes (RFC 5288 §3); ChaCha: IV XOR sequence.
      const nonce = gcm ? Buffer.concat([iv, record.fragment.subarray(0, 8)]) : xorNonce(iv, sequence);
      // additional_data = seq_num + type + version + length of the plaintext (RFC 5246 §6.2.3.3).
      const aad = recordPseudoHeader(sequence, record, sealed.length - TAG_LENGTH);
      return open(suite.cipher as AeadCipher, key, nonce, aad, sealed);
    };
  }
  let encrypted = false;
  let sequence = 0;
  let decrypted = 0;
  for (const record of records(client, failures)) {
    if (!encrypted) {
      if (record.type === RECORD.changeCipherSpec) encrypted = true;
      continue;
    }
    const inner = openRecord(record, sequence++);
    if (!inner) {
      count(failures, 'authentication-failed');
      continue;
    }
    decrypted++;
    if (record.type === RECORD.applicationData) plaintext.push(inner);
    else if (
      record.type === RECORD.handshake &&
      decrypted > 1 &&
      handshakeTypes(inner).includes(HANDSHAKE.clientHello)
    ) {
      // A ClientHello under the session's keys: renegotiation (RFC 5746), new keys follow.
      count(failures, 'renegotiation');
      break;
    }
  }
  return result('TLS 1.2', suite, plaintext, decrypted, failures);
}
