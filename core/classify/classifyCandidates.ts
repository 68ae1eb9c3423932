import type { Candidate } from '../../schema/flowRecord.ts';
import type { KnownValueIndex, ValueDigester } from '../registry/knownValues.ts';
import type { PersonalDataType } from './dataTypes.ts';
import { discover, MIN_CONFIDENCE } from './discovery.ts';
import { mask } from './mask.ts';
import { expandValue, VariantBudget } from './variants.ts';

/** One piece of personal data found in a request: enough to act on, never the value itself. */
export interface Finding {
  readonly dataType: PersonalDataType;
  /** Where: `<location>:<key>` and, inside a decoded value, the path there (`form:imei`, `json:$.d → $.imei`). */
  readonly where: string;
  /**
   * Decodings that led to the value, outermost first: what the probe undid (`chunked`, `gzip`,
   * `url-encoding`), the JSON body it was a leaf of (`json`), then what classification decoded
   * (`base64`, `gzip`, `json` inside a string, …); empty when plain.
   */
  readonly chain: readonly string[];
  /** How the value was written, for known values: `plain`, `md5-hex`, `sha256-base64`, … */
  readonly form?: string;
  readonly masked: string;
  /** Keyed digest of the value (same value, same digest), when the deployment has a digest key. */
  readonly digest?: string;
  readonly confidence: number;
  /** `known`: matched a value the lab registered; `discovered`: recognised by shape and key. */
  readonly source: 'known' | 'discovered';
  readonly canary?: boolean;
  readonly evidence: string;
}

export interface ClassifyOptions {
  /** ISO country of the device's SIM (national phone numbers). */
  readonly region?: string;
  /** The device's registered values. */
  readonly known?: KnownValueIndex;
  /** Digests values with the deployment's key (findings of discovered values carry a digest). */
  readonly digester?: ValueDigester;
}

export interface ClassifyResult {
  readonly findings: Finding[];
  /** Decodings cut by the per-flow limits (VARIANT_LIMITS). */
  readonly cut: number;
}

/**
 * Finds the personal data in a request's candidate values. Every value is expanded into its
 * decoded variants; a variant that matches a registered value is that value (a known match always
 * wins over a guess), otherwise discovery decides. One finding per data type and place.
 */
export function classifyCandidates(
  candidates: readonly Candidate[],
  options: ClassifyOptions = {},
): ClassifyResult {
  // Most flows carry no candidate (DNS, TLS, …): nothing to set up for them.
  if (candidates.length === 0) return { findings: [], cut: 0 };
  const budget = new VariantBudget();
  const best = new Best();
  const scope = cacheFor(options);
  for (const candidate of candidates) {
    // A device sends the same values in the same places flow after flow: classify each once.
    const cacheable = candidate.value.length <= MAX_CACHED_VALUE;
    const byValue = cacheable ? scope.forPlace(candidate.location, candidate.key) : undefined;
    const cached = byValue?.get(candidate.value);
    // The decodings the probe did before the value reached us lead the chain (not cached: the same
    // value in the same place may come in a plain body one time and a gzipped one the next).
    const before = decodedBefore(candidate);
    if (cached) {
      for (const finding of cached) best.keep(before ? withChainBefore(finding, before) : finding);
      continue;
    }
    const cutBefore = budget.cut;
    const found = classifyValue(candidate, options, budget);
    for (const finding of found) best.keep(before ? withChainBefore(finding, before) : finding);
    // Cached only when nothing was cut (a cut result depends on what came before in the flow).
    if (byValue && budget.cut === cutBefore) scope.remember(byValue, candidate.value, found);
  }
  return { findings: best.findings(), cut: budget.cut };
}

/**
 * What was undone before a candidate's value was read, outermost first: the probe's codings
 * (`chunked`, `gzip`, `deflate`), the JSON body the value was a leaf of, or the `url-encoding` of a
 * query, form or path value. Undefined when nothing was.
 */
function decodedBefore(candidate: Candidate): readonly string[] | undefined {
  const decoded = candidate.decoded;
  if (candidate.location === 'json') return decoded ? [...decoded, 'json'] : JSON_ONLY;
  return decoded && decoded.length > 0 ? decoded : undefined;
}
const JSON_ONLY = ['json'] as const;

function withChainBefore(finding: Finding, before: readonly string[]): Finding {
  return { ...finding, chain: [...before, ...finding.chain] };
}

/**
 * The best finding per data type and place. A flow has a handful: a list scanned in place (no key
 * strings), which turns into a map past LIST_LIMIT so a flow with very many stays linear.
 */
const LIST_LIMIT = 32;
class Best {
  private list: Finding[] = [];
  private map: Map<string, Finding> | undefined;

  keep(finding: Finding): void {
    if (this.map) {
      const id = `${finding.dataType}|${finding.where}`;
      const current = this.map.get(id);
      if (!current || rank(finding) > rank(current)) this.map.set(id, finding);
      return;
    }
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const current = list[i]!;
      if (current.dataType === finding.dataType && current.where === finding.where) {
        if (rank(finding) > rank(current)) list[i] = finding;
        return;
      }
    }
    list.push(finding);
    if (list.length > LIST_LIMIT) {
      this.map = new Map(list.map((f) => [`${f.dataType}|${f.where}`, f]));
    }
  }

  findings(): Finding[] {
    return this.map ? [...this.map.values()] : this.list;
  }
}

/** The findings of one candidate value and its decoded variants. */
function classifyValue(candidate: Candidate, options: ClassifyOptions, budget: VariantBudget): Finding[] {
  const found: Finding[] = [];
  const place = `${candidate.location}:${candidate.key}`;
  for (const variant of expandValue(candidate.value, candidate.key, budget)) {
    const known = options.known?.match(variant.value);
    // Built only for a finding (most variants are none).
    const where = () => (variant.path ? `${place} → ${variant.path}` : place);
    if (known) {
      found.push({
        dataType: known.dataType,
        where: where(),
        chain: variant.chain,
        form: known.form,
        masked: known.form === 'plain' ? mask(variant.value) : `${known.form}(${mask(variant.value)})`,
        digest: known.valueDigest,
        confidence: 1,
        source: 'known',
        ...(known.canary ? { canary: true } : {}),
        evidence: `matches a registered ${known.canary ? 'canary' : 'identifier'}${known.form === 'plain' ? '' : ` (${known.form})`}`,
      });
      continue;
    }
    const discovered = discover(variant, options.region);
    if (!discovered || discovered.confidence < MIN_CONFIDENCE) continue;
    found.push({
      dataType: discovered.dataType,
      where: where(),
      chain: variant.chain,
      masked: mask(variant.value),
      ...(options.digester
        ? {
            digest: options.digester.digest(
              `value:${discovered.dataType}:${variant.value.trim().toLowerCase()}`,
            ),
          }
        : {}),
      confidence: discovered.confidence,
      source: 'discovered',
      evidence: discovered.evidence,
    });
  }
  return found;
}

/** Values longer than this are classified every time (rarely repeated, costly to key). */
const MAX_CACHED_VALUE = 256;
/** Cached values at most, across places; everything is forgotten beyond (cheap and bounded). */
const MAX_CACHED_RESULTS = 20_000;

/**
 * Results by place (location, key) then value, with the strings the candidates already hold as
 * keys (no key is built per lookup). One cache per region × registry × digest key.
 */
class ResultCache {
  private readonly places = new Map<string, Map<string, Map<string, Finding[]>>>();
  private size = 0;

  forPlace(location: string, key: string): Map<string, Finding[]> {
    let byKey = this.places.get(location);
    if (!byKey) {
      byKey = new Map();
      this.places.set(location, byKey);
    }
    let byValue = byKey.get(key);
    if (!byValue) {
      byValue = new Map();
      byKey.set(key, byValue);
    }
    return byValue;
  }

  remember(byValue: Map<string, Finding[]>, value: string, findings: Finding[]): void {
    if (++this.size > MAX_CACHED_RESULTS) {
      this.places.clear();
      this.size = 1;
    }
    byValue.set(value, findings);
  }

  clear(): void {
    this.places.clear();
    this.size = 0;
  }
}

const caches = new Map<string, ResultCache>();
const scopes = new WeakMap<object, number>();
let nextScope = 1;

/** The scope of the previous call: consecutive flows of one device share it. */
let last:
  | {
      region: string | undefined;
      known: object | undefined;
      digester: object | undefined;
      cache: ResultCache;
    }
  | undefined;

/** Results depend on the region, the registry and the digest key: each combination caches apart. */
function cacheFor(options: ClassifyOptions): ResultCache {
  if (
    last &&
    last.region === options.region &&
    last.known === options.known &&
    last.digester === options.digester
  )
    return last.cache;
  const cache = scopedCache(options);
  last = { region: options.region, known: options.known, digester: options.digester, cache };
  return cache;
}

function scopedCache(options: ClassifyOptions): ResultCache {
  const id = (o: object | undefined) => {
    if (!o) return 0;
    let n = scopes.get(o);
    if (n === undefined) {
      n = nextScope++;
      scopes.set(o, n);
    }
    return n;
  };
  const scope = `${options.region ?? ''}|${id(options.known)}|${id(options.digester)}`;
  let cache = caches.get(scope);
  if (!cache) {
    if (caches.size > 64) {
      caches.clear();
      last = undefined;
    }
    cache = new ResultCache();
    caches.set(scope, cache);
  }
  return cache;
}

/** Forgets cached results (benchmarks: each round starts cold, as a new execution environment does). */
export function clearClassificationCache(): void {
  for (const cache of caches.values()) cache.clear();
}

const rank = (f: Finding) => (f.source === 'known' ? 2 : f.confidence);
