import { describe, expect, it } from '@jest/globals';
import type { StoredAlert } from '../../core/alerts/alert.ts';
import type { BuildFacts } from '../../core/alerts/rules.ts';
import { BatchReads } from '../../core/ingest/batchReads.ts';
import type { LeakwatchStore } from '../../core/store/leakwatchStore.ts';

/** One batch's shared reads: read once, read again after this invocation writes. */
describe('BatchReads', () => {
  const key = { rule: 'new-destination', subject: 'api.example.com', dataType: 'imei' };
  const storeCounting = () => {
    const reads: string[] = [];
    const store = {
      getAlert: async (line: string, k: typeof key) => {
        reads.push(`${line}/${k.subject}`);
        return { alertId: `a${reads.length}` } as unknown as StoredAlert;
      },
    } as unknown as LeakwatchStore;
    return { store, reads };
  };

  it('reads an alert once per batch and again after a write to it', async () => {
    const { store, reads } = storeCounting();
    const batch = new BatchReads(store);
    expect(await batch.alert('line-1', key)).toEqual({ alertId: 'a1' });
    expect(await batch.alert('line-1', key)).toEqual({ alertId: 'a1' });
    await batch.alert('line-2', key);
    await batch.alert('line-1', { ...key, subject: 'other.example.com' });
    expect(reads).toEqual(['line-1/api.example.com', 'line-2/api.example.com', 'line-1/other.example.com']);
    batch.forgetAlert('line-1', key);
    expect(await batch.alert('line-1', key)).toEqual({ alertId: 'a4' });
    batch.clear();
    await batch.alert('line-2', key);
    expect(reads).toHaveLength(5);
  });

  it('does not keep a failed read', async () => {
    let calls = 0;
    const store = {
      getAlert: async () => {
        calls++;
        if (calls === 1) throw new Error('throttled');
        return undefined;
      },
    } as unknown as LeakwatchStore;
    const batch = new BatchReads(store);
    await expect(batch.alert('line-1', key)).rejects.toThrow('throttled');
    expect(await batch.alert('line-1', key)).toBeUndefined();
    expect(calls).toBe(2);
  });

  it("keeps a build's baseline until a flow of another build of the line is counted", async () => {
    const batch = new BatchReads({} as LeakwatchStore);
    let loads = 0;
    const load = async (): Promise<BuildFacts[]> => {
      loads++;
      return [];
    };
    await batch.baseline('line-1', 'B2', load);
    batch.flowCounted('line-1', 'B2');
    batch.flowCounted('line-2', 'B1');
    await batch.baseline('line-1', 'B2', load);
    expect(loads).toBe(1);
    // A late flow of build B1 may be part of B2's baseline.
    batch.flowCounted('line-1', 'B1');
    await batch.baseline('line-1', 'B2', load);
    expect(loads).toBe(2);
    // Another build of the line has its own baseline.
    await batch.baseline('line-1', 'B3', load);
    expect(loads).toBe(3);
  });
});
