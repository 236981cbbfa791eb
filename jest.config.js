'use strict';
// One command runs every suite: unit (pure core, shared validators), integration (real functions
// through the real wx-server-sdk against a sandbox) and pages (miniprogram-simulate + official wcc).
const transform = { '^.+\\.ts$': '<rootDir>/test/helpers/esbuild-transform.js' };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    {
      displayName: 'pages',
      testEnvironment: 'jsdom',
      transform,
      testMatch: ['<rootDir>/test/pages/**/*.test.ts'],
    },
  ],
};
