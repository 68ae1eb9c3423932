import { promises as dns } from 'node:dns';

/** Resolves an address to a name (PTR), or undefined. */
export type ReverseLookup = (ip: string) => Promise<string | undefined>;

/**
 * Reverse DNS (PTR) with a time limit and a cache (answers and failures alike), so a flow whose
 * only name is its address still gets one, at the cost of one lookup per new address.
 */
export function cachedReverseLookup(
  resolve: (ip: string) => Promise<string[]> = (ip) => dns.reverse(ip),
  timeoutMs = 300,
  maxEntries = 20_000,
): ReverseLookup {
  const cache = new Map<string, Promise<string | undefined>>();
  return (ip) => {
    let answer = cache.get(ip);
    if (!answer) {
      answer = Promise.race([
        resolve(ip).then(
          (names) => names[0]?.toLowerCase().replace(/\.$/, ''),
          () => undefined,
        ),
        new Promise<undefined>((done) => setTimeout(() => done(undefined), timeoutMs).unref()),
      ]);
      if (cache.size >= maxEntries) cache.clear();
      cache.set(ip, answer);
    }
    return answer;
  };
}
