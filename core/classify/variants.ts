import { gunzipSync, inflateSync } from 'node:zlib';

/**
 * Decoded variants of a request value: what an identifier might be hidden in. From one value come
 * its URL-decoded form, base64/base64url and hex decodings (kept when they decode to text),
 * gzip/deflate inside those, JSON inside strings (each leaf with its path), and url-encoded pairs
 * (each with its key). Each variant says how it was reached (`chain`, e.g. `base64 → gzip → json`).
 *
 * Work is bounded per flow by a `VariantBudget` (documented limits, counted when hit).
 */
export interface Variant {
  readonly value: string;
  /** Key that names the value: the candidate's key, or the JSON/form key found inside. */
  readonly key: string;
  /** Path inside the value (`$.a.b`, `form:x`), empty for the value itself. */
  readonly path: string;
  readonly chain: readonly string[];
}

export const VARIANT_LIMITS = {
  /** Nesting of decodings (base64 inside JSON inside base64 …). */
  maxDepth: 4,
  /** Variants per flow. */
  maxVariants: 2_000,
  /** Bytes decoded or decompressed per flow. */
  maxDecodedBytes: 256 * 1024,
  /** JSON nesting walked inside a value. */
  maxJsonDepth: 16,
} as const;

/** Shared across one flow's values; counts what was cut. */
export class VariantBudget {
  variants = 0;
  decodedBytes = 0;
  cut = 0;
  take(bytes: number): boolean {
    if (
      this.variants >= VARIANT_LIMITS.maxVariants ||
      this.decodedBytes + bytes > VARIANT_LIMITS.maxDecodedBytes
    ) {
      this.cut++;
      return false;
    }
    this.variants++;
    this.decodedBytes += bytes;
    return true;
  }
}

/** Identifier-like tokens inside text: digit runs (with phone separators), e-mail addresses, MACs. */
const TEXT_TOKEN =
  /\+?\d[\d\s().-]{5,22}\d|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}/g;
const BASE64 = /^[A-Za-z0-9+/]{8,}={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]{8,}$/;
const HEX = /^(?:[0-9a-fA-F]{2}){4,}$/;

/** Text that is mostly printable (so a decoding is meaningful, not random bytes). */
function printableText(bytes: Buffer): string | null {
  if (bytes.length === 0) return null;
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD')) return null;
  let printable = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) printable++;
  }
  return printable / text.length >= 0.95 ? text : null;
}

/** gzip (1f 8b) or zlib (78 xx) compressed bytes, decompressed within the budget. */
function decompress(bytes: Buffer, budget: VariantBudget): { text: string; kind: string } | null {
  const limit = Math.max(0, VARIANT_LIMITS.maxDecodedBytes - budget.decodedBytes);
  const options = { maxOutputLength: Math.max(1, limit) };
  try {
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      const out = gunzipSync(bytes, options);
      const text = printableText(out);
      return text && budget.take(out.length) ? { text, kind: 'gzip' } : null;
    }
    if (bytes[0] === 0x78 && (bytes[0]! * 256 + bytes[1]!) % 31 === 0) {
      const out = inflateSync(bytes, options);
      const text = printableText(out);
      return text && budget.take(out.length) ? { text, kind: 'deflate' } : null;
    }
  } catch {
    budget.cut++; // corrupt, or over the decompression limit (a bomb): counted, not thrown
  }
  return null;
}

function decodeBytes(value: string): { bytes: Buffer; kind: string } | null {
  if (value.length >= 8 && HEX.test(value)) return { bytes: Buffer.from(value, 'hex'), kind: 'hex' };
  // Cheap checks first: most values are neither.
  if (value.length % 4 === 0 && BASE64.test(value))
    return { bytes: Buffer.from(value, 'base64'), kind: 'base64' };
  if (/[-_]/.test(value) && BASE64URL.test(value))
    return { bytes: Buffer.from(value, 'base64url'), kind: 'base64url' };
  return null;
}

function safeDecodeUri(value: string): string | null {
  if (!value.includes('%') || !/%[0-9a-fA-F]{2}/.test(value)) return null;
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/**
 * Expands one value into itself and its decoded variants (depth-first, bounded). `key` is the
 * name the value came under; variants found inside JSON or form data carry their own key.
 */
export function expandValue(value: string, key: string, budget: VariantBudget): Variant[] {
  const out: Variant[] = [];
  const visit = (v: string, k: string, path: string, chain: readonly string[], depth: number) => {
    if (!budget.take(0)) return;
    out.push({ value: v, key: k, path, chain });
    if (depth >= VARIANT_LIMITS.maxDepth) return;
    const trimmed = v.trim();
    const uri = safeDecodeUri(trimmed);
    if (uri !== null && uri !== trimmed) visit(uri, k, path, [...chain, 'url'], depth + 1);
    if (/^[{[]/.test(trimmed) && trimmed.length >= 2) {
      try {
        walkJson(JSON.parse(trimmed), k, path || '$', [...chain, 'json'], depth + 1, 0);
        return;
      } catch {
        // not JSON after all
      }
    }
    if (trimmed.includes('=') && /^[^\s=&]+=[^&]*(&[^\s=&]+=[^&]*)+$/.test(trimmed)) {
      for (const pair of trimmed.split('&')) {
        const equals = pair.indexOf('=');
        const name = pair.slice(0, equals);
        const inner = safeDecodeUri(pair.slice(equals + 1)) ?? pair.slice(equals + 1);
        visit(inner, name, `${path}form:${name}`, [...chain, 'form'], depth + 1);
      }
      return;
    }
    const decoded = decodeBytes(trimmed);
    if (decoded && budget.take(decoded.bytes.length)) {
      const compressed = decompress(decoded.bytes, budget);
      if (compressed) {
        visit(compressed.text, k, path, [...chain, decoded.kind, compressed.kind], depth + 1);
        return;
      }
      const text = printableText(decoded.bytes);
      if (text !== null && text !== trimmed) {
        visit(text, k, path, [...chain, decoded.kind], depth + 1);
        return;
      }
    }
    // Identifiers inside longer text ("id:4901…", "call me on +86 …"): each token on its own. Only
    // text with separators: a digit run inside a hash or token blob is not an identifier.
    if (trimmed.length > 8 && /[\s:;,|]/.test(trimmed)) {
      for (const match of trimmed.matchAll(TEXT_TOKEN)) {
        if (match[0].length < trimmed.length)
          visit(match[0], k, `${path}@${match.index}`, [...chain, 'text'], depth + 1);
      }
    }
  };
  const walkJson = (
    node: unknown,
    k: string,
    path: string,
    chain: readonly string[],
    depth: number,
    jsonDepth: number,
  ) => {
    if (jsonDepth > VARIANT_LIMITS.maxJsonDepth) {
      budget.cut++;
      return;
    }
    if (typeof node === 'string') visit(node, k, path, chain, depth);
    else if (typeof node === 'number') visit(String(node), k, path, chain, depth);
    else if (Array.isArray(node))
      node.forEach((item, i) => {
        walkJson(item, k, `${path}[${i}]`, chain, depth, jsonDepth + 1);
      });
    else if (node && typeof node === 'object') {
      for (const [name, item] of Object.entries(node))
        walkJson(item, name, `${path}.${name}`, chain, depth, jsonDepth + 1);
    }
  };
  visit(value, key, '', [], 0);
  return out;
}
