/** Why a packet was not used. Counted per reason and printed at the end of a run. */
export type SkipReason =
  | 'unsupported-link-type'
  | 'truncated-link-header'
  | 'unsupported-ethertype'
  | 'truncated-ip'
  | 'bad-ip-header'
  | 'unsupported-ip-protocol'
  | 'fragment-limit'
  | 'truncated-tcp'
  | 'bad-tcp-header'
  | 'truncated-udp'
  /** A capture timestamp past the year 9999 (a corrupt clock or if_tsresol): the packet cannot be placed in time. */
  | 'timestamp-out-of-range';

export class SkipCounter {
  readonly counts = new Map<SkipReason, number>();
  add(reason: SkipReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }
  get total(): number {
    let sum = 0;
    for (const value of this.counts.values()) sum += value;
    return sum;
  }
  summary(): string {
    return [...this.counts.entries()].map(([reason, n]) => `${reason}: ${n}`).join(', ');
  }
}
