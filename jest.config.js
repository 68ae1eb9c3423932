// Jest runs the TypeScript sources as native ESM (@middy/core is ESM-only), compiled by swc.
// Type checking is `tsc --noEmit` (npm run typecheck), not the test transform.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', importAttributes: true },
          target: 'es2022',
          experimental: { keepImportAttributes: true },
        },
        module: { type: 'es6' },
      },
    ],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/globalSetup.mjs',
};
