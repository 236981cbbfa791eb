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
 *   scripts              build, deploy, CLI, benchmarks                      + manifest, core, lib/settings, sandbox, miniprogram, test fixtures
 *
 * Within miniprogram, the packages of app.json: a subpackage's files import the main package and their
 * own subpackage, never another subpackage; the main package imports no subpackage (WeChat loads a
 * subpackage's code only when one of its pages opens).
 *
 * Tests may import anything. Packages: the shared layer, the manifest and the client import none;
 * the core only what pure computation needs (crypto, streams, zlib, a worker thread, the spreadsheet libraries);
 * the sandbox never imports wx-server-sdk (it emulates the server the SDK talks to). Specifiers must
 * be string literals, so every import can be checked.
 */
const path = require('path');

const ROOT = __dirname.endsWith(`${path.sep}scripts`) ? path.dirname(__dirname) : __dirname;

/** Each layer: which files it is (a path prefix), which folders it may import, which packages not. */
const LAYERS = [
  {
    name: 'miniprogram/shared',
    files: 'miniprogram/shared/',
    may: ['miniprogram/shared/'],
    packages: [],
  },
  {
    name: 'server/manifest',
    files: 'server/manifest/',
    may: ['server/manifest/', 'miniprogram/shared/'],
    packages: [],
  },
  {
    name: 'server/core',
    files: 'server/core/',
    may: ['server/core/', 'miniprogram/shared/'],
    packages: ['crypto', 'util', 'stream', 'string_decoder', 'zlib', 'worker_threads', 'xlsx', 'node-xlsx'],
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
  {
    name: 'sandbox',
    files: 'sandbox/',
    may: ['sandbox/', 'server/manifest/', 'miniprogram/shared/'],
    forbiddenPackages: ['wx-server-sdk'],
  },
  { name: 'miniprogram', files: 'miniprogram/', may: ['miniprogram/'], packages: [] },
  {
    name: 'scripts',
    files: 'scripts/',
    // server/lib/settings: a deploy checks the values exactly as the functions will load them.
    may: [
      'scripts/',
      'server/manifest/',
      'server/core/',
      'server/lib/settings',
      'sandbox/',
      'miniprogram/',
      'test/fixtures/',
      'package.json',
    ],
  },
];

const toPosix = (p) => p.split(path.sep).join('/');

/** `miniprogram/verify/` for each subpackage root of miniprogram/app.json. */
function subpackageRoots() {
  try {
    const app = JSON.parse(require('fs').readFileSync(path.join(ROOT, 'miniprogram/app.json'), 'utf8'));
    return (app.subPackages || app.subpackages || []).map((p) => `miniprogram/${p.root.replace(/^\/+|\/+$/g, '')}/`);
  } catch {
    return [];
  }
}

/** Why a mini-program file may not import `target` across packages, or undefined. */
function packageViolation(relative, target) {
  if (!relative.startsWith('miniprogram/') || !target.startsWith('miniprogram/')) return undefined;
  const roots = subpackageRoots();
  const packageOf = (file) => roots.find((root) => file.startsWith(root));
  const to = packageOf(`${target}/`);
  if (!to || to === packageOf(relative)) return undefined;
  return `${relative} must not import ${target}: it is in the subpackage ${to} (another package)`;
}

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
  if (!source.startsWith('.') && !path.isAbsolute(source)) {
    const bare = source.replace(/^node:/, '');
    const pkg = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : bare.split('/')[0];
    if (layer.packages && !layer.packages.includes(pkg)) {
      const allowed = layer.packages.length ? `only ${layer.packages.join(', ')}` : 'no packages';
      return `${layer.name} imports ${allowed}: ${source}`;
    }
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
  if (!ok) return `${layer.name} must not import ${target} (allowed: ${layer.may.join(', ')})`;
  return packageViolation(relative, target);
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
    /** A string literal, or a template literal without expressions; anything else cannot be checked. */
    const checkSpecifier = (node) => {
      if (!node) return;
      if (node.type === 'Literal') return check(node, node.value);
      if (node.type === 'TemplateLiteral' && node.expressions.length === 0) {
        return check(node, node.quasis[0].value.cooked);
      }
      context.report({
        node,
        message: 'module specifiers must be string literals (the layer map checks every import)',
      });
    };
    const fromSource = (node) => node.source && check(node.source, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => checkSpecifier(node.source),
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') checkSpecifier(node.arguments[0]);
      },
      TSImportEqualsDeclaration(node) {
        if (node.moduleReference.type === 'TSExternalModuleReference') checkSpecifier(node.moduleReference.expression);
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
