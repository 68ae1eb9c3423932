/**
 * TLS ClientHello (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2) inside TLS records (RFC 8446 §5.1).
 * Reads server_name (RFC 6066 §3), ALPN (RFC 7301 §3.1) and supported_versions (RFC 8446 §4.2.1).
 */
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_SERVER_HELLO = 2;
/** encrypted_client_hello is 0xfe0d (draft-ietf-tls-esni-18 §11.1); older drafts used 0xff02/0xfe08–0xfe0c. */
const EXTENSION = { serverName: 0, alpn: 16, supportedVersions: 43, encryptedClientHello: 0xfe0d } as const;
const LEGACY_ECH_TYPES = new Set([0xff02, 0xfe08, 0xfe09, 0xfe0a, 0xfe0b, 0xfe0c]);

export interface ClientHello {
  readonly sni?: string;
  readonly alpn?: string[];
  /** Highest version offered, as `TLS 1.x`. */
  readonly version: string;
  /** The hello carries an encrypted_client_hello extension (the SNI above is then the outer, public name). */
  readonly ech: boolean;
}

const VERSION_NAMES: Record<number, string> = {
  768: 'SSL 3.0',
  769: 'TLS 1.0',
  770: 'TLS 1.1',
  771: 'TLS 1.2',
  772: 'TLS 1.3',
};

/** Orders versions: drafts of TLS 1.3 (0x7fNN) between 1.2 and 1.3; unknown values lowest. */
function versionRank(version: number): number {
  if (version >> 8 === 0x7f) return 0x0303 + (version & 0xff) / 256;
  return version >= 0x0300 && version <= 0x0304 ? version : 0;
}

/** `TLS 1.2`, `TLS 1.3`; drafts of 1.3 (0x7fNN) as `TLS 1.3 draft NN`. */
export function versionName(version: number): string {
  if (version >> 8 === 0x7f) return `TLS 1.3 draft ${version & 0xff}`;
  return VERSION_NAMES[version] ?? `0x${version.toString(16).padStart(4, '0')}`;
}

/** True when the bytes start like a TLS handshake record (type 22, major version 3). */
export function looksLikeTls(stream: Buffer): boolean {
  return stream.length >= 3 && stream[0] === CONTENT_TYPE_HANDSHAKE && stream[1] === 3 && stream[2]! <= 4;
}

/** Concatenates the handshake fragments of the leading handshake records. */
function handshakeBytes(stream: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= stream.length && stream[offset] === CONTENT_TYPE_HANDSHAKE) {
    const length = stream.readUInt16BE(offset + 3);
    parts.push(stream.subarray(offset + 5, Math.min(stream.length, offset + 5 + length)));
    offset += 5 + length;
  }
  return Buffer.concat(parts);
}

/** Parses the ClientHello at the start of a client's TLS stream; null when absent or malformed. */
export function parseClientHello(stream: Buffer): ClientHello | null {
  if (!looksLikeTls(stream)) return null;
  const hs = handshakeBytes(stream);
  if (hs.length < 4 || hs[0] !== HANDSHAKE_CLIENT_HELLO) return null;
  const bodyLength = hs.readUIntBE(1, 3);
  const body = hs.subarray(4, 4 + bodyLength);
  let offset = 0;
  const need = (n: number) => {
    if (offset + n > body.length) throw new RangeError('ClientHello truncated');
  };
  try {
    need(2 + 32);
    const legacyVersion = body.readUInt16BE(0);
    offset = 34;
    need(1);
    offset += 1 + body[offset]!; // legacy_session_id
    need(2);
    offset += 2 + body.readUInt16BE(offset); // cipher_suites
    need(1);
    offset += 1 + body[offset]!; // legacy_compression_methods
    let sni: string | undefined;
    let alpn: string[] | undefined;
    let highest = legacyVersion;
    let ech = false;
    if (offset + 2 <= body.length) {
      const extensionsEnd = Math.min(body.length, offset + 2 + body.readUInt16BE(offset));
      offset += 2;
      while (offset + 4 <= extensionsEnd) {
        const type = body.readUInt16BE(offset);
        const length = body.readUInt16BE(offset + 2);
        const data = body.subarray(offset + 4, Math.min(extensionsEnd, offset + 4 + length));
        offset += 4 + length;
        if (type === EXTENSION.encryptedClientHello || LEGACY_ECH_TYPES.has(type)) ech = true;
        if (type === EXTENSION.serverName && data.length >= 5 && data[2] === 0) {
          const nameLength = data.readUInt16BE(3);
          // Cut to what a record carries (256 characters): a longer name must not make the record invalid.
          sni = data.toString('latin1', 5, Math.min(data.length, 5 + nameLength, 5 + 256)).toLowerCase();
        } else if (type === EXTENSION.alpn && data.length >= 2) {
          alpn = [];
          for (let i = 2; i < data.length; ) {
            const n = data[i]!;
            // RFC 7301 §3.1: names are 1-255 bytes; an empty one is no protocol and is left out.
            if (n > 0)
              alpn.push(data.toString('latin1', i + 1, Math.min(data.length, i + 1 + n, i + 1 + 256)));
            i += 1 + n;
          }
          if (alpn.length === 0) alpn = undefined;
        } else if (type === EXTENSION.supportedVersions && data.length >= 1) {
          for (let i = 1; i + 1 < data.length && i < 1 + data[0]!; i += 2) {
            const version = data.readUInt16BE(i);
            // Skip GREASE values (RFC 8701), which look like 0x?a?a.
            if ((version & 0x0f0f) !== 0x0a0a && versionRank(version) > versionRank(highest))
              highest = version;
          }
        }
      }
    }
    return {
      ...(sni ? { sni } : {}),
      ...(alpn ? { alpn } : {}),
      version: versionName(highest),
      ech,
    };
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}

/**
 * Version the server chose, from the ServerHello at the start of the server's stream: the
 * supported_versions extension when present (TLS 1.3, RFC 8446 §4.2.1), else legacy_version.
 */
export function parseServerHelloVersion(stream: Buffer): string | null {
  if (!looksLikeTls(stream)) return null;
  const hs = handshakeBytes(stream);
  if (hs.length < 4 || hs[0] !== HANDSHAKE_SERVER_HELLO) return null;
  const body = hs.subarray(4, 4 + hs.readUIntBE(1, 3));
  if (body.length < 35) return null;
  let version = body.readUInt16BE(0);
  let offset = 34;
  offset += 1 + body[offset]!; // legacy_session_id_echo
  offset += 2 + 1; // cipher_suite, legacy_compression_method
  if (offset + 2 <= body.length) {
    const end = Math.min(body.length, offset + 2 + body.readUInt16BE(offset));
    offset += 2;
    while (offset + 4 <= end) {
      const type = body.readUInt16BE(offset);
      const length = body.readUInt16BE(offset + 2);
      if (type === EXTENSION.supportedVersions && length === 2 && offset + 6 <= end)
        version = body.readUInt16BE(offset + 4);
      offset += 4 + length;
    }
  }
  return versionName(version);
}
