'use strict';
// Jest globalSetup: builds the cloud functions from the current sources once per run, before any
// suite starts (every sandbox a suite or a page test starts deploys them from cloudfunctions/).
// One build instead of one per suite; the build writes only what changed, atomically, so scripts
// a suite runs that build again (npm start, deploy) never leave a half-written bundle.
const { execFileSync } = require('child_process');
const path = require('path');

module.exports = function globalSetup() {
  execFileSync(process.execPath, ['scripts/run.js', 'scripts/build.ts', '--functions'], {
    cwd: path.resolve(__dirname, '../..'),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
};
