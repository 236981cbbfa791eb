'use strict';
// Lets plain `node` run the TypeScript sources of scripts/ and sandbox/ (TypeScript 5.9's `tsc`
// type-checks them; esbuild only strips types here, exactly as for the cloud-function bundles).
const fs = require('fs');
const { transformSync } = require('esbuild');

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: filename,
  });
  module._compile(code, filename);
};
