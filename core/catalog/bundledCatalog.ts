import { type CatalogEntry, CatalogFileSchema } from './catalog.ts';
import bundled from './destinations.json' with { type: 'json' };

/** The catalog shipped with leakwatch (validated once at load). */
export const BUNDLED_CATALOG: readonly CatalogEntry[] = CatalogFileSchema.parse(bundled).entries;
