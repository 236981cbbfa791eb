'use strict';
/**
 * The layer map, enforced: an ESLint rule (`layers/boundaries`) that resolves every import of a file
 * (`import`, `export … from`, `import()`, `require()`) and fails when it crosses a boundary the table
 * below does not allow. The README's architecture section shows the same table as a picture.
 *
 *   miniprogram/shared   contracts, errors, checked requests, validators   imports nothing outside itself
 *   server/manifest      functions, variables, collections (declarative)    + shared
 *   server/core          pure logic, no SDK                                  + shared
 *   server/lib           SDK adapters, settings loader                       + core, manifest, shared
 *   server/functions/<f> adapter + services of one function                  + lib, core, manifest, shared
 *   sandbox              the emulated cloud (a black box)                    + manifest, shared
 *   miniprogram (rest)   pages, services, utils                              + shared (never server or sandbox)
 *   scripts              build, deploy, CLI, benchmarks                      + manifest, core, sandbox, miniprogram, test fixtures
 *
 * Tests may import anything. Packages: the shared layer imports none (it runs on the device), the
 * core never imports wx-server-sdk.
 */
const path = require('path');

const ROOT = __dirname.endsWith(`${path.sep}scripts`) ? path.dirname(__dirname) : __dirname;

/** Each layer: which files it is (a path prefix), which folders it may import, which packages not. */
const LAYERS = [
  {
    name: 'miniprogram/shared',
    files: 'miniprogram/shared/',
    may: ['miniprogram/shared/'],
    packages: false,
  },
  { name: 'server/manifest', files: 'server/manifest/', may: ['server/manifest/', 'miniprogram/shared/'] },
  {
    name: 'server/core',
    files: 'server/core/',
    may: ['server/core/', 'miniprogram/shared/'],
    forbiddenPackages: ['wx-server-sdk'],
  },
  {
    name: 'server/lib',
    files: 'server/lib/',
    may: ['server/lib/', 'server/core/', 'server/manifest/', 'miniprogram/shared/'],
  },
  {
    name: 'server/functions',
    files: 'server/functions/',
    // A function's own folder only: functions never import each other.
    may: ['server/functions/<own>/', 'server/lib/', 'server/core/', 'server/manifest/', 'miniprogram/shared/'],
  },
  { name: 'sandbox', files: 'sandbox/', may: ['sandbox/', 'server/manifest/', 'miniprogram/shared/'] },
  { name: 'miniprogram', files: 'miniprogram/', may: ['miniprogram/'] },
  {
    name: 'scripts',
    files: 'scripts/',
    may: ['scripts/', 'server/manifest/', 'server/core/', 'sandbox/', 'miniprogram/', 'test/fixtures/', 'package.json'],
  },
];

const toPosix = (p) => p.split(path.sep).join('/');

/** The layer of a file (the most specific prefix), or undefined (tests, config files). */
function layerOf(relative) {
  return LAYERS.find((layer) => relative.startsWith(layer.files));
}

/** `server/functions/face/service.ts` → `server/functions/face/`. */
function ownFunctionFolder(relative) {
  const parts = relative.split('/');
  return parts.length > 3 ? `${parts.slice(0, 3).join('/')}/` : undefined;
}

/** Why importing `source` from `relative` (both project-relative, posix) is not allowed, or undefined. */
function violation(relative, source) {
  const layer = layerOf(relative);
  if (!layer) return undefined;
  if (!source.startsWith('.')) {
    const pkg = source.startsWith('@') ? source.split('/').slice(0, 2).join('/') : source.split('/')[0];
    if (layer.packages === false) return `${layer.name} imports no packages (it runs on both sides): ${source}`;
    if (layer.forbiddenPackages && layer.forbiddenPackages.includes(pkg)) {
      return `${layer.name} must not import ${pkg}`;
    }
    return undefined;
  }
  const target = toPosix(path.relative(ROOT, path.resolve(ROOT, path.dirname(relative), source)));
  const allowed = layer.may.map((prefix) =>
    prefix === 'server/functions/<own>/' ? ownFunctionFolder(relative) || '\0' : prefix,
  );
  const ok = allowed.some((prefix) => `${target}/`.startsWith(prefix) || target === prefix);
  return ok ? undefined : `${layer.name} must not import ${target} (allowed: ${layer.may.join(', ')})`;
}

const boundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports respect the layer map (scripts/lint-layers.js).' },
    schema: [],
  },
  create(context) {
    const relative = toPosix(path.relative(ROOT, context.filename));
    if (relative.startsWith('..') || !layerOf(relative)) return {};
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      const problem = violation(relative, source);
      if (problem) context.report({ node, message: problem });
    };
    const fromSource = (node) => node.source && check(node.source, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      CallExpression(node) {
        const [arg] = node.arguments;
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && arg && arg.type === 'Literal') {
          check(arg, arg.value);
        }
      },
      TSImportType(node) {
        const arg = node.argument;
        const literal = arg && (arg.type === 'TSLiteralType' ? arg.literal : arg);
        if (literal && literal.type === 'Literal') check(literal, literal.value);
      },
    };
  },
};

module.exports = { LAYERS, violation, plugin: { rules: { boundaries } } };
