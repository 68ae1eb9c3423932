import * as z from 'zod/mini';
import '../../schema/zod.ts';
import { ConfigFileError, parseConfigText } from '../config/strictParse.ts';

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

export const CatalogEntrySchema = z.strictObject({
  /** Host name or a parent domain; the longest matching suffix wins. */
  suffix: z.string().check(z.minLength(1)),
  organisation: z.string().check(z.minLength(1)),
  category: DestinationCategorySchema,
  /** Consent service this destination belongs to (matches a lab session's consent keys). */
  service: z.optional(z.string().check(z.minLength(1))),
  source: z.string().check(z.minLength(1)),
});
export const CatalogFileSchema = z.strictObject({
  /** A note for people reading the file (JSON has no comments). */
  $comment: z.optional(z.string()),
  entries: z.array(CatalogEntrySchema),
});
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

/** A catalog file that cannot be read or is invalid (a ConfigFileError: the CLI reports it as a usage error). */
export class CatalogError extends ConfigFileError {
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

  /** Consent services the entries name (what a lab session's consent keys may be). */
  services(): Set<string> {
    const services = new Set<string>();
    for (const entry of this.bySuffix.values()) if (entry.service) services.add(entry.service);
    return services;
  }

  static fromJson(text: string, source: string): CatalogEntry[] {
    try {
      return parseConfigText(CatalogFileSchema, text, 'catalog', source).entries;
    } catch (error) {
      if (error instanceof ConfigFileError) throw new CatalogError(error.message, { cause: error });
      throw error;
    }
  }
}
