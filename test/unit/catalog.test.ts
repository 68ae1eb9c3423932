import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildXiaomiCatalog } from '../../core/catalog/buildXiaomiCatalog.ts';
import { BUNDLED_CATALOG, loadCatalog } from '../../core/catalog/bundledCatalog.ts';
import { CatalogError } from '../../core/catalog/catalog.ts';
import { projectRoot } from '../helpers/scenario.ts';

describe('destination catalog', () => {
  it('ships every listed Xiaomi endpoint, each with its source, exactly as generated', async () => {
    const tsv = await readFile(
      join(projectRoot, 'core', 'catalog', 'sources', 'xiaomi-endpoints.tsv'),
      'utf8',
    );
    const committed = JSON.parse(await readFile(join(projectRoot, 'core', 'catalog', 'xiaomi.json'), 'utf8'));

    expect(committed.entries).toEqual(buildXiaomiCatalog(tsv));
    expect(committed.entries).toHaveLength(740);
    expect(BUNDLED_CATALOG.every((entry) => entry.source.length > 0)).toBe(true);
  });

  it.each([
    ['api.account.xiaomi.com', 'Xiaomi', 'vendor-cloud', 'xiaomi.cloud-messaging'],
    ['data.mistat.xiaomi.com', 'Xiaomi', 'analytics', 'xiaomi.analytics'],
    ['a.union.mi.com', 'Xiaomi', 'advertising', undefined],
    ['api.xmpush.xiaomi.com', 'Xiaomi', 'push', undefined],
    ['update.intl.miui.com', 'Xiaomi', 'ota-update', undefined],
    ['connect.rom.miui.com', 'Xiaomi', 'connectivity-check', undefined],
    ['some.new.host.xiaomi.com', 'Xiaomi', 'vendor-cloud', undefined],
  ])('%s → %s, %s', (host, organisation, category, service) => {
    const entry = loadCatalog(undefined).lookup(host);

    expect([entry?.organisation, entry?.category, entry?.service]).toEqual([organisation, category, service]);
  });

  it("lets a deployment's own file add and override entries", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'catalog-'));
    const path = join(dir, 'lab.json');
    await writeFile(
      path,
      JSON.stringify({
        entries: [
          {
            suffix: 'telemetry.example-oem.com',
            organisation: 'Example OEM',
            category: 'analytics',
            service: 'oem.telemetry',
            source: 'lab contract',
          },
          {
            suffix: 'update.miui.com',
            organisation: 'Xiaomi',
            category: 'ota-update',
            service: 'xiaomi.ota',
            source: 'lab decision',
          },
        ],
      }),
    );

    const catalog = loadCatalog(path);

    expect(catalog.lookup('eu.telemetry.example-oem.com')?.service).toBe('oem.telemetry');
    expect(catalog.lookup('update.miui.com')?.service).toBe('xiaomi.ota');
  });

  it('names an unreadable or invalid deployment file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'catalog-'));
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({ entries: [{ suffix: 'x.com', organisation: 'X', category: 'spyware', source: 's' }] }),
    );

    expect(() => loadCatalog(join(dir, 'missing.json'))).toThrow(CatalogError);
    expect(() => loadCatalog(bad)).toThrow(
      /catalog .*bad\.json is invalid:\n {2}entries\[0\]\.category: Invalid option/,
    );
  });
});
