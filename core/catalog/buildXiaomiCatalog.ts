import { getDomain } from 'tldts';
import type { CatalogEntry } from './catalog.ts';

/**
 * The catalog entries for the listed Xiaomi/MIUI hosts (sources/xiaomi-endpoints.tsv: public
 * blocklists and lab observations, each host with its source tags; see docs/sources.md).
 * Categories come from the host name, conservatively; each entry keeps its tags as its source.
 */
/** Registrable domains Xiaomi operates; other listed hosts are third parties MIUI talks to. */
const XIAOMI_DOMAINS = new Set([
  'xiaomi.com',
  'xiaomi.net',
  'miui.com',
  'miui.net',
  'mi.com',
  'mi-img.com',
  'mi-idc.com',
  'miwifi.com',
  'xiaomi.cn',
  'xiaoyi.com',
  'yitechnology.com',
]);

const RULES: [RegExp, string][] = [
  [/(^|[.-])(ad\d*|ads\d*|adv|adx|adsfs|admob|union)([.-]|$)|traffic-media/, 'advertising'],
  [
    /(^|[.-])(tracking|track|stat|mistat|data|bigdata|log|logs|report|metrics|sa|analytics|tracker|perf|abtest|o2o)([.-]|$)/,
    'analytics',
  ],
  [/(^|[.-])(update|ota|bigota|upgrade)([.-]|$)/, 'ota-update'],
  [/(^|[.-])(push|mipush|msg|notify|ppl|xmpush)([.-]|$)/, 'push'],
  [
    /(^|[.-])(cdn|img|static|file|files|fds|dl|download|res|resource)([.-]|$)|cdn|edgesuite|wscdns|ks-cdn|ksyna|wsglb/,
    'cdn',
  ],
  [/(^|[.-])(connect|connectivitycheck|captive|generate_204)([.-]|$)/, 'connectivity-check'],
];

function categorise(host: string): string {
  for (const [pattern, category] of RULES) if (pattern.test(host)) return category;
  return 'vendor-cloud';
}

export function buildXiaomiCatalog(text: string): CatalogEntry[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [host, tags] = line.split('\t');
      const domain = getDomain(host!) ?? host!;
      const xiaomi = XIAOMI_DOMAINS.has(domain);
      return {
        suffix: host!.toLowerCase(),
        organisation: xiaomi ? 'Xiaomi' : `third party (${domain}), listed as Xiaomi-related`,
        category: categorise(host!.toLowerCase()),
        source: `xiaomi-endpoints.tsv: ${tags!.trim().split('').join(', ')} (see docs/sources.md)`,
      };
    })
    .sort((a, b) => a.suffix.localeCompare(b.suffix)) as CatalogEntry[];
}
