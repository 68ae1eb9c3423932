import { z } from 'zod';

export const DestinationCategorySchema = z.enum([
  'vendor-cloud',
  'analytics',
  'advertising',
  'push',
  'ota-update',
  'cdn',
  'connectivity-check',
  'other',
]);

export const CatalogEntrySchema = z.object({
  /** Host name or a parent domain; the longest matching suffix wins. */
  suffix: z.string().min(1),
  organisation: z.string().min(1),
  category: DestinationCategorySchema,
  /** Consent service this destination belongs to (matches a lab session's consent keys). */
  service: z.string().min(1).optional(),
  source: z.string().min(1),
});
export const CatalogFileSchema = z.object({ entries: z.array(CatalogEntrySchema) });
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

export class CatalogError extends Error {
  override name = 'CatalogError';
}

/** Suffix lookup over the bundled catalog plus any deployment file. */
export class DestinationCatalog {
  private readonly bySuffix = new Map<string, CatalogEntry>();

  constructor(entries: Iterable<CatalogEntry>) {
    for (const entry of entries) this.bySuffix.set(entry.suffix.toLowerCase(), entry);
  }

  /** Entry for the longest suffix of `host` in the catalog (`a.b.example.com` tries itself, then `b.example.com`, …). */
  lookup(host: string): CatalogEntry | undefined {
    let name = host.toLowerCase();
    while (true) {
      const entry = this.bySuffix.get(name);
      if (entry) return entry;
      const dot = name.indexOf('.');
      if (dot < 0) return undefined;
      name = name.slice(dot + 1);
    }
  }

  static fromJson(text: string, source: string): CatalogEntry[] {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new CatalogError(`catalog ${source} is not JSON: ${(error as Error).message}`, { cause: error });
    }
    const parsed = CatalogFileSchema.safeParse(json);
    if (!parsed.success) {
      throw new CatalogError(
        `catalog ${source} is invalid: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
      );
    }
    return parsed.data.entries;
  }
}
