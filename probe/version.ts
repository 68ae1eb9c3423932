import pkg from '../package.json' with { type: 'json' };

/** leakwatch's version (package.json): in every flow record's `probe.version` and `leakwatch --version`. */
export const PROBE_VERSION: string = pkg.version;
