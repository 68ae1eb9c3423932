/**
 * How large the sets in aggregate items may grow (issue 20). A device chooses the field names and
 * encodings of what it sends, so an observation's `where` and `encodings` would otherwise grow
 * with every new name; an item's size sets what each of its writes costs (one write unit per KB)
 * and DynamoDB refuses an item over 400 KB, after which every flow and session end touching it
 * is dead-lettered. Values past a cap are left out (the set is named in the item's `setsCapped`);
 * what grows with sessions, devices and builds is counted through membership items instead
 * (core/store/membership.ts).
 *
 * At 300 bytes a value (names are cut at 256 characters) the largest observation's sets take at most
 * (64 + 32 + 32) × 300 B ≈ 38 KB; typical values are 10–40 bytes.
 */
export const SET_CAPS = {
  /** Observation: where in requests a value was found (`json → imei`, device-chosen names). */
  where: 64,
  /** Observation: decoding chains (`chunked → gzip → json → base64`). */
  encodings: 32,
  /** Observation: how a known value was written (`plain`, `md5-hex`, …: a fixed list today). */
  forms: 32,
  /** Build: services the lab's consent settings denied. */
  deniedServices: 64,
  /** Device run: personal-data types (a fixed list today). */
  dataTypes: 64,
  plaintextDataTypes: 64,
  /** Build and line: some of the lab devices that ran it (all are counted). */
  deviceSample: 32,
  /** Alert: builds that showed it (the last one is kept apart: `lastSeenInBuild`). */
  seenInBuilds: 64,
} as const;
