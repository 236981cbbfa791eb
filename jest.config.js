'use strict';
// One command runs every suite: unit (pure core, shared validators), integration (real functions
// through the real wx-server-sdk against a sandbox) and pages (miniprogram-simulate + official wcc).
const os = require('os');

const transform = { '^.+\\.ts$': '<rootDir>/test/helpers/esbuild-transform.js' };

module.exports = {
  // The cloud functions built once from the current sources, before any suite (see the file).
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  // Three suites at a time even on 2 cores (jest's default there is one): much of a suite's time is
  // spent waiting on its sandbox's function processes, spawned scripts and sandbox timeouts, not on
  // jest's own CPU (on 2 cores, measured 2026-12-03: jest 177-183 s with 2 workers, 162 s with 3,
  // the same CPU time). Suites share no port, data dir or build output (free ports, temporary dirs,
  // atomic builds). At most 4: every suite starts sandboxes with function processes of their own.
  maxWorkers: Math.max(3, Math.min(4, os.availableParallelism?.() ?? os.cpus().length)),
  // jest's default of 5 s is a wall-clock bound a loaded machine breaks (a 2-core machine at a load
  // of 10 runs a test several times slower): a test that hangs still fails, after a minute. Suites
  // that need longer set their own.
  testTimeout: 60_000,
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
