/**
 * TLS key material in the NSS key log format (what SSLKEYLOGFILE writes; also the payload of a
 * pcapng Decryption Secrets Block of type TLSK, pcapng §4.7): one secret per line,
 * `<LABEL> <client_random hex> <secret hex>`, `#` comments, blank lines.
 * https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/index.html
 *
 * Secrets are kept by the ClientHello's random, the key of every lookup. They never leave this
 * module's users in readable form: errors and summaries name a source and a line number, never a
 * line's text.
 */

/** The labels the probe uses (TLS 1.2 master secret; TLS 1.3 traffic secrets, RFC 8446 §7.1). */
export const KEY_LABELS = [
  'CLIENT_RANDOM',
  'CLIENT_EARLY_TRAFFIC_SECRET',
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
] as const;
export type KeyLabel = (typeof KEY_LABELS)[number];

/** Labels NSS and OpenSSL also write that the probe does not need (accepted, not kept). */
const IGNORED_LABELS = new Set(['EXPORTER_SECRET', 'EARLY_EXPORTER_SECRET', 'RSA']);

/** The secrets logged for one connection (one client random). */
export type ConnectionSecrets = Partial<Record<KeyLabel, Buffer>>;

/** Secrets as plain data, by client random (hex): what a worker thread is given. */
export type KeyLogEntries = [string, Record<string, Uint8Array>][];

/** One key log line the probe could not use, by position (its text may hold a secret: never shown). */
export interface KeyLogProblem {
  readonly source: string;
  readonly line: number;
  readonly reason: string;
}

/** Problems kept for the summary at most (the rest are only counted). */
const MAX_PROBLEMS_KEPT = 20;

const HEX = /^[0-9a-fA-F]+$/;

/** Secrets from any number of key logs, by client random (hex, lower case). */
export class TlsKeyLog {
  private readonly byRandom = new Map<string, ConnectionSecrets>();
  /** Lines with a secret the probe kept. */
  secrets = 0;
  /** Lines that were not usable, counted; the first few are kept with where they were. */
  problemCount = 0;
  readonly problems: KeyLogProblem[] = [];

  /** Connections (client randoms) with at least one secret. */
  get connections(): number {
    return this.byRandom.size;
  }

  /** Whether any key material was given at all (a run then reports TLS flows without keys). */
  get active(): boolean {
    return this.secrets > 0 || this.problemCount > 0 || this.sources > 0;
  }

  /** Key logs and secrets blocks read. */
  sources = 0;

  /**
   * Adds every line of a key log; unusable lines are counted with their line number. Returns the
   * client randoms (hex) it added secrets for.
   */
  addText(text: string, source: string): Set<string> {
    this.sources++;
    const added = new Set<string>();
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '' || line.startsWith('#')) continue;
      const problem = this.addLine(line, added);
      if (problem) this.problem(source, i + 1, problem);
    }
    return added;
  }

  private problem(source: string, line: number, reason: string): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS_KEPT) this.problems.push({ source, line, reason });
  }

  /** One line; returns why it was not used, or undefined. */
  private addLine(line: string, added: Set<string>): string | undefined {
    const parts = line.split(/\s+/);
    if (parts.length !== 3) return `expected 3 fields (label, client random, secret), found ${parts.length}`;
    const [label, random, secret] = parts as [string, string, string];
    if (IGNORED_LABELS.has(label)) return undefined;
    if (!(KEY_LABELS as readonly string[]).includes(label)) return `unknown label '${label.slice(0, 40)}'`;
    if (random.length !== 64 || !HEX.test(random)) return 'client random is not 32 bytes of hex';
    if (secret.length % 2 !== 0 || !HEX.test(secret)) return 'secret is not hex';
    const bytes = secret.length / 2;
    // TLS 1.2's master secret is 48 bytes (RFC 5246 §8.1); TLS 1.3 secrets are a hash long (32 or 48).
    if (label === 'CLIENT_RANDOM' ? bytes !== 48 : bytes !== 32 && bytes !== 48)
      return `secret of ${bytes} bytes is not a ${label === 'CLIENT_RANDOM' ? 'master secret (48)' : 'SHA-256 or SHA-384 secret'}`;
    const key = random.toLowerCase();
    let entry = this.byRandom.get(key);
    if (!entry) {
      entry = {};
      this.byRandom.set(key, entry);
    }
    entry[label as KeyLabel] = Buffer.from(secret, 'hex');
    added.add(key);
    this.secrets++;
    return undefined;
  }

  /** The secrets of the connection whose ClientHello carried `random` (32 bytes). */
  lookup(random: Buffer): ConnectionSecrets | undefined {
    return this.byRandom.get(random.toString('hex'));
  }

  /** Secrets as plain data (to hand to a worker thread, in process): all, or those of `randoms`. */
  entries(randoms?: Iterable<string>): KeyLogEntries {
    const keys = randoms ?? this.byRandom.keys();
    const out: KeyLogEntries = [];
    for (const random of keys) {
      const secrets = this.byRandom.get(random);
      if (secrets) out.push([random, { ...secrets }]);
    }
    return out;
  }

  /** Adds secrets from `entries()` of another key log. */
  addEntries(entries: KeyLogEntries): void {
    for (const [random, secrets] of entries) {
      const entry = this.byRandom.get(random) ?? {};
      for (const [label, secret] of Object.entries(secrets)) {
        entry[label as KeyLabel] = Buffer.from(secret);
        this.secrets++;
      }
      this.byRandom.set(random, entry);
    }
  }

  /** `3 secrets for 2 connections from 1 key log; 1 line skipped (a.log line 4: …)`. */
  summary(): string {
    const skipped =
      this.problemCount > 0
        ? `; ${this.problemCount} line${this.problemCount === 1 ? '' : 's'} skipped (${this.problems
            .slice(0, 3)
            .map((p) => `${p.source} line ${p.line}: ${p.reason}`)
            .join('; ')}${this.problemCount > 3 ? '; …' : ''})`
        : '';
    return `${this.secrets} secrets for ${this.connections} connections${skipped}`;
  }
}
