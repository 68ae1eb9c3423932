/** Version stamped on every record, so a record says which probe made it. */
export const PROBE_VERSION = '0.1.0';
