import {
  type Candidate,
  type CandidateDecoding,
  type CandidateLocation,
  type CandidateShape,
  MAX_CANDIDATE_VALUE_LENGTH,
} from '../schema/flowRecord.ts';
import { type HttpRequest, headerValue } from './decode/http1.ts';
import { wellFormed } from './recordParts.ts';

/**
 * Candidate personal-data fields of a plaintext HTTP request: every value a request carries in a
 * named place (query, form, JSON leaf, non-standard header, cookie) and identifier-like tokens in
 * paths and free-text bodies. The probe only finds and shapes them; ingest decides what they are.
 */

/** Headers that carry protocol plumbing, never a device's data. */
const PLUMBING_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
  'connection',
  'keep-alive',
  'cache-control',
  'pragma',
  'expect',
  'te',
  'upgrade',
  'if-modified-since',
  'if-none-match',
  'range',
  'cookie',
  'date',
]);
const MAX_JSON_DEPTH = 32;
/**
 * Identifier-like tokens in free text: long digit runs (with phone separators) and e-mail addresses,
 * the matches of `/\+?\d[\d\s().-]{5,22}\d|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g`, found in
 * time linear in the text. (V8 ran that expression in quadratic time on a long run of letters: a
 * 200 KB text body took 49 s, issue 20.) test/unit/candidates.test.ts checks both agree.
 */
export function* textTokens(text: string): Generator<{ index: number; token: string }> {
  const n = text.length;
  // localEnd[i]: where the run of e-mail local-part characters starting at i ends (i itself if none).
  const localEnd = new Int32Array(n + 1);
  localEnd[n] = n;
  for (let i = n - 1; i >= 0; i--) localEnd[i] = isLocal(text.charCodeAt(i)) ? localEnd[i + 1]! : i;
  /** The end of the e-mail domain after the '@' at `at`, or -1 (computed once per '@'). */
  const domains = new Map<number, number>();
  const domainEnd = (at: number): number => {
    let end = domains.get(at);
    if (end !== undefined) return end;
    // `[A-Za-z0-9.-]+\.[A-Za-z]{2,}` on the run R of domain characters after '@': the greedy first
    // part takes up to the last '.' (not R's first character) followed by two letters; the letters
    // after that '.' all belong to the match.
    let runEnd = at + 1;
    while (runEnd < n && isDomain(text.charCodeAt(runEnd))) runEnd++;
    let dot = -1;
    for (let k = at + 2; k + 2 < runEnd; k++)
      if (text.charCodeAt(k) === 0x2e && isLetter(text.charCodeAt(k + 1)) && isLetter(text.charCodeAt(k + 2)))
        dot = k;
    end = -1;
    if (dot >= 0) {
      end = dot + 1;
      while (end < runEnd && isLetter(text.charCodeAt(end))) end++;
    }
    domains.set(at, end);
    return end;
  };
  for (let i = 0; i < n; ) {
    // \+?\d[\d\s().-]{5,22}\d: the longest middle whose next character is a digit.
    const digitAt = text.charCodeAt(i) === 0x2b ? i + 1 : i;
    if (isDigit(text.charCodeAt(digitAt))) {
      let run = 0;
      while (run < 22 && digitAt + 1 + run < n && isPhoneChar(text.charCodeAt(digitAt + 1 + run))) run++;
      let end = -1;
      for (let k = run; k >= 5; k--)
        if (isDigit(text.charCodeAt(digitAt + 1 + k))) {
          end = digitAt + 2 + k;
          break;
        }
      if (end > 0) {
        yield { index: i, token: text.slice(i, end) };
        i = end;
        continue;
      }
    }
    // [A-Za-z0-9._%+-]+@…: the local part is the whole run from i, so it must end at an '@'.
    const at = localEnd[i]!;
    if (at > i && text.charCodeAt(at) === 0x40) {
      const end = domainEnd(at);
      if (end > 0) {
        yield { index: i, token: text.slice(i, end) };
        i = end;
        continue;
      }
    }
    i++;
  }
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
/** [A-Za-z0-9._%+-] */
const isLocal = (c: number) =>
  isLetter(c) || isDigit(c) || c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
/** [A-Za-z0-9.-] */
const isDomain = (c: number) => isLetter(c) || isDigit(c) || c === 0x2e || c === 0x2d;
const WHITESPACE = /\s/;
/** [\d\s().-] (\s as JavaScript defines it). */
const isPhoneChar = (c: number) =>
  isDigit(c) ||
  c === 0x28 ||
  c === 0x29 ||
  c === 0x2e ||
  c === 0x2d ||
  WHITESPACE.test(String.fromCharCode(c));

export function shapeOf(value: string): CandidateShape {
  const v = value.trim();
  if (/^\d{6,}$/.test(v)) return 'digits';
  if (/^\+?[\d\s().-]{7,24}$/.test(v) && (v.match(/\d/g)?.length ?? 0) >= 7) return 'phone-like';
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) return 'email-like';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) return 'uuid';
  if (/^-?\d{1,3}\.\d{4,}\s*,\s*-?\d{1,3}\.\d{4,}$/.test(v) || /^-?\d{1,3}\.\d{5,}$/.test(v))
    return 'coordinates';
  if (/^[0-9a-f]{16,}$/i.test(v)) return 'hex';
  if (/^[A-Za-z0-9+/_-]{16,}={0,2}$/.test(v) && /[a-z]/.test(v) && /[A-Z]/.test(v)) return 'base64';
  return 'text';
}

class CandidateCollector {
  readonly items: Candidate[] = [];
  dropped = 0;
  constructor(
    private readonly request: number,
    private readonly limit: number,
  ) {}
  add(
    location: CandidateLocation,
    key: string,
    rawValue: string,
    decoded?: readonly CandidateDecoding[] | undefined,
  ): void {
    const value = rawValue.trim();
    if (value.length === 0) return;
    if (this.items.length >= this.limit) {
      this.dropped++;
      return;
    }
    const truncated = value.length > MAX_CANDIDATE_VALUE_LENGTH;
    this.items.push({
      request: this.request,
      location,
      key: wellFormed(key.slice(0, 512)),
      value: wellFormed(truncated ? value.slice(0, MAX_CANDIDATE_VALUE_LENGTH) : value),
      shape: shapeOf(value),
      ...(truncated ? { truncated: true } : {}),
      ...(decoded && decoded.length > 0 ? { decoded: [...decoded] } : {}),
    });
  }
}

function safeDecode(text: string): string {
  if (text.indexOf('%') < 0 && text.indexOf('+') < 0) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** `codings` (the body's, for a form) plus `url-encoding` when percent- or plus-decoding changed the text. */
function withUrlDecoding(
  codings: readonly CandidateDecoding[] | undefined,
  changed: boolean,
): readonly CandidateDecoding[] | undefined {
  return changed ? [...(codings ?? []), 'url-encoding'] : codings;
}

function addUrlEncoded(
  collector: CandidateCollector,
  location: 'query' | 'form',
  encoded: string,
  codings?: readonly CandidateDecoding[],
): void {
  for (const pair of encoded.split('&')) {
    if (!pair) continue;
    const equals = pair.indexOf('=');
    const rawValue = equals < 0 ? '' : pair.slice(equals + 1);
    const key = safeDecode(equals < 0 ? pair : pair.slice(0, equals));
    const value = safeDecode(rawValue);
    collector.add(location, key, value, withUrlDecoding(codings, value !== rawValue));
  }
}

function addJson(
  collector: CandidateCollector,
  node: unknown,
  path: string,
  depth: number,
  codings: readonly CandidateDecoding[] | undefined,
): void {
  if (depth > MAX_JSON_DEPTH) return;
  if (typeof node === 'string') collector.add('json', path, node, codings);
  else if (typeof node === 'number' || typeof node === 'bigint')
    collector.add('json', path, String(node), codings);
  else if (Array.isArray(node))
    node.forEach((item, i) => {
      addJson(collector, item, `${path}[${i}]`, depth + 1, codings);
    });
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
      addJson(collector, value, `${path}${segment}`, depth + 1, codings);
    }
  }
}

function addFreeText(
  collector: CandidateCollector,
  text: string,
  codings: readonly CandidateDecoding[] | undefined,
): void {
  for (const { index, token } of textTokens(text)) collector.add('body-text', `@${index}`, token, codings);
}

export interface RequestCandidates {
  readonly candidates: Candidate[];
  readonly dropped: number;
}

/** Extracts the candidates of one request; `limit` bounds how many are kept. */
export function extractCandidates(
  request: HttpRequest,
  requestIndex: number,
  limit: number,
): RequestCandidates {
  const collector = new CandidateCollector(requestIndex, limit);
  const question = request.target.indexOf('?');
  const path = question < 0 ? request.target : request.target.slice(0, question);
  for (const segment of path.split('/')) {
    const value = safeDecode(segment);
    if (value && shapeOf(value) !== 'text')
      collector.add('path', path, value, withUrlDecoding(undefined, value !== segment));
  }
  if (question >= 0) addUrlEncoded(collector, 'query', request.target.slice(question + 1).split('#')[0]!);
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (lower === 'cookie') {
      for (const part of value.split(';')) {
        const equals = part.indexOf('=');
        if (equals > 0) collector.add('cookie', part.slice(0, equals).trim(), part.slice(equals + 1));
      }
    } else if (!PLUMBING_HEADERS.has(lower)) {
      collector.add('header', name, value);
    }
  }
  if (request.body.length > 0) {
    const contentType = headerValue(request, 'content-type')?.toLowerCase() ?? '';
    const text = request.body.toString('utf8');
    const codings = request.bodyCodings;
    if (contentType.includes('application/x-www-form-urlencoded')) {
      addUrlEncoded(collector, 'form', text, codings);
    } else if (contentType.includes('json') || /^\s*[{[]/.test(text)) {
      try {
        addJson(collector, JSON.parse(text), '$', 0, codings);
      } catch {
        addFreeText(collector, text, codings);
      }
    } else {
      addFreeText(collector, text, codings);
    }
  }
  return { candidates: collector.items, dropped: collector.dropped };
}
