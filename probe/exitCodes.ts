/** Exit codes of `leakwatch probe`, documented in --help. */
export const EXIT = { ok: 0, delivery: 1, usage: 2, capture: 3, spooled: 75 } as const;
