import type { StoredAlert } from '../alerts/alert.ts';
import type { BuildFacts } from '../alerts/rules.ts';
import type { LeakwatchStore } from '../store/leakwatchStore.ts';

type AlertKey = { readonly rule: string; readonly subject: string; readonly dataType: string };

/**
 * What the records of one invocation (one batch of a shard) read again and again, read once: each
 * alert item, until this invocation writes it, and a build's baseline, until a flow of another build
 * of that line is counted. Most flows of a build meet the same conditions, so without this every
 * flow with findings reads each of its conditions' alerts. Reads are as fresh as the batch: another
 * shard's writes meanwhile are seen by the next batch; the alert writes are conditional, so a stale
 * read never raises an alert twice.
 */
export class BatchReads {
  private readonly alerts = new Map<string, Promise<StoredAlert | undefined>>();
  private readonly baselines = new Map<string, { build: string; facts: Promise<BuildFacts[]> }>();

  constructor(private readonly store: LeakwatchStore) {}

  alert(line: string, key: AlertKey): Promise<StoredAlert | undefined> {
    const id = alertCacheKey(line, key);
    let read = this.alerts.get(id);
    if (!read) {
      read = this.store.getAlert(line, key);
      this.alerts.set(id, read);
      // A failed read is not kept.
      const failed = read;
      failed.catch(() => {
        if (this.alerts.get(id) === failed) this.alerts.delete(id);
      });
    }
    return read;
  }

  /** This invocation wrote (or tried to write) the alert: the next flow reads it again. */
  forgetAlert(line: string, key: AlertKey): void {
    this.alerts.delete(alertCacheKey(line, key));
  }

  baseline(line: string, build: string, load: () => Promise<BuildFacts[]>): Promise<BuildFacts[]> {
    const cached = this.baselines.get(line);
    if (cached?.build === build) return cached.facts;
    const facts = load();
    this.baselines.set(line, { build, facts });
    facts.catch(() => {
      if (this.baselines.get(line)?.facts === facts) this.baselines.delete(line);
    });
    return facts;
  }

  /** A flow of `build` was counted: a baseline of another build of the line may include it now. */
  flowCounted(line: string, build: string): void {
    if (this.baselines.get(line)?.build !== build) this.baselines.delete(line);
  }

  /** A session ended (alerts may have been resolved): nothing read before is kept. */
  clear(): void {
    this.alerts.clear();
    this.baselines.clear();
  }
}

const alertCacheKey = (line: string, key: AlertKey) =>
  JSON.stringify([line, key.rule, key.subject, key.dataType]);
