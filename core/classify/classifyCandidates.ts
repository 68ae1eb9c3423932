import type { Candidate } from '../../schema/flowRecord.ts';
import { type KnownValueIndex, keyedDigest } from '../registry/knownValues.ts';
import type { PersonalDataType } from './dataTypes.ts';
import { discover, MIN_CONFIDENCE } from './discovery.ts';
import { mask } from './mask.ts';
import { expandValue, VariantBudget } from './variants.ts';

/** One piece of personal data found in a request: enough to act on, never the value itself. */
export interface Finding {
  readonly dataType: PersonalDataType;
  /** Where: `<location>:<key>` and, inside a decoded value, the path there (`form:imei`, `json:$.d → $.imei`). */
  readonly where: string;
  /** Decodings that led to the value, outermost first (`base64`, `gzip`, `json`); empty when plain. */
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
  /** The deployment's digest key. */
  readonly digestKey?: Buffer;
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
  const budget = new VariantBudget();
  const best = new Map<string, Finding>();
  const keep = (finding: Finding) => {
    const id = `${finding.dataType}|${finding.where}`;
    const current = best.get(id);
    if (!current || rank(finding) > rank(current)) best.set(id, finding);
  };
  for (const candidate of candidates) {
    for (const variant of expandValue(candidate.value, candidate.key, budget)) {
      const where = `${candidate.location}:${candidate.key}${variant.path ? ` → ${variant.path}` : ''}`;
      const known = options.known?.match(variant.value);
      if (known) {
        keep({
          dataType: known.dataType,
          where,
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
      const found = discover(variant, options.region);
      if (!found || found.confidence < MIN_CONFIDENCE) continue;
      keep({
        dataType: found.dataType,
        where,
        chain: variant.chain,
        masked: mask(variant.value),
        ...(options.digestKey
          ? {
              digest: keyedDigest(
                options.digestKey,
                `value:${found.dataType}:${variant.value.trim().toLowerCase()}`,
              ),
            }
          : {}),
        confidence: found.confidence,
        source: 'discovered',
        evidence: found.evidence,
      });
    }
  }
  return { findings: [...best.values()], cut: budget.cut };
}

const rank = (f: Finding) => (f.source === 'known' ? 2 : f.confidence);
