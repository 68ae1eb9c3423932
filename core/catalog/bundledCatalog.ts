import { readFileSync } from 'node:fs';
import { type CatalogEntry, CatalogError, CatalogFileSchema, DestinationCatalog } from './catalog.ts';
import curated from './destinations.json' with { type: 'json' };
import xiaomi from './xiaomi.json' with { type: 'json' };

/**
 * The catalog shipped with leakwatch: 740 listed Xiaomi hosts (generated, xiaomi.json), then the
 * curated entries (destinations.json: services for consent, sources), which win where both name a host.
 */
export const BUNDLED_CATALOG: readonly CatalogEntry[] = [
  ...CatalogFileSchema.parse(xiaomi).entries,
  ...CatalogFileSchema.parse(curated).entries,
];

/**
 * The bundled catalog extended by a deployment's own file (same format), whose entries win.
 * `path` is usually LEAKWATCH_CATALOG; a file that cannot be read or is invalid throws CatalogError.
 */
export function loadCatalog(path: string | undefined): DestinationCatalog {
  if (!path) return new DestinationCatalog(BUNDLED_CATALOG);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CatalogError(`cannot read catalog ${path}: ${(error as Error).message}`, { cause: error });
  }
  return new DestinationCatalog([...BUNDLED_CATALOG, ...DestinationCatalog.fromJson(text, path)]);
}
