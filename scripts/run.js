'use strict';
// `node scripts/run.js <script.ts> [args...]`: runs a TypeScript script's exported `main(args)`.
require('./register');
const path = require('path');

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run.js <script.ts> [args...]');
  process.exit(2);
}
const mod = require(path.resolve(file));
Promise.resolve()
  .then(() => mod.main(args))
  .then((code) => {
    // A script that returns an exit code is done: exit now, because miniprogram-ci leaves handles
    // open that keep Node alive for minutes. Long-running scripts (the sandbox) return nothing.
    if (typeof code === 'number') process.exit(code);
  })
  .catch((err) => {
    console.error(err && err.message ? err.message : err);
    process.exit(1);
  });
