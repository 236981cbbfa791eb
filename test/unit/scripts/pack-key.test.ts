/**
 * The npm build's cache key (scripts/build.ts `packKey`): what a kept pack was made of. A change in
 * any dependency the pack reads, nested or hoisted, must give another key (else a stale pack is
 * copied); a package the dependencies do not reach must not.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { packKey } from '../../../scripts/build';

let dir: string;

function write(rel: string, content: string): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), content);
}

const pkg = (name: string, dependencies: Record<string, string> = {}) =>
  JSON.stringify({ name, version: '1.0.0', dependencies });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-key-'));
  // ui → helper (hoisted beside it) and → shared (nested inside ui, shadowing a hoisted one).
  write('package.json', pkg('app', { '@scope/ui': '1.0.0' }));
  write('package-lock.json', '{}');
  write('node_modules/@scope/ui/package.json', pkg('@scope/ui', { helper: '1.0.0', shared: '2.0.0' }));
  write('node_modules/@scope/ui/index.js', 'ui');
  // shared 2 → deep (nested two levels down) and → inner (beside it, inside ui).
  write(
    'node_modules/@scope/ui/node_modules/shared/package.json',
    pkg('shared', { helper: '1.0.0', deep: '1.0.0', inner: '1.0.0' }),
  );
  write('node_modules/@scope/ui/node_modules/shared/index.js', 'shared 2');
  write('node_modules/@scope/ui/node_modules/shared/node_modules/deep/package.json', pkg('deep'));
  write('node_modules/@scope/ui/node_modules/shared/node_modules/deep/index.js', 'deep');
  write('node_modules/@scope/ui/node_modules/inner/package.json', pkg('inner'));
  write('node_modules/@scope/ui/node_modules/inner/index.js', 'inner');
  write('node_modules/helper/package.json', pkg('helper', { '@scope/ui': '1.0.0' }));
  write('node_modules/helper/lib/index.js', 'helper');
  write('node_modules/shared/package.json', pkg('shared'));
  write('node_modules/shared/index.js', 'shared 1, reached by nobody');
  write('node_modules/unrelated/index.js', 'not a dependency');
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const key = () => packKey(path.join(dir, 'package.json'));

describe('packKey', () => {
  it('is the same for the same inputs (a dependency cycle ends)', () => {
    const first = key();
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(key()).toBe(first);
  });

  it.each([
    ['the package.json', 'package.json', pkg('app', { '@scope/ui': '1.0.1' })],
    ['the lock file', 'package-lock.json', '{"lockfileVersion":3}'],
    ['a named dependency', 'node_modules/@scope/ui/index.js', 'ui, edited'],
    ['a hoisted dependency of a dependency', 'node_modules/helper/lib/index.js', 'helper, edited'],
    ['a nested dependency of a dependency', 'node_modules/@scope/ui/node_modules/shared/index.js', 'shared 2, edited'],
    [
      'a dependency nested two levels down',
      'node_modules/@scope/ui/node_modules/shared/node_modules/deep/index.js',
      'deep, edited',
    ],
    [
      "a dependency hoisted inside its parent's parent",
      'node_modules/@scope/ui/node_modules/inner/index.js',
      'inner, edited',
    ],
    ['a hoisted dependency (a file added)', 'node_modules/helper/lib/extra.js', 'new'],
  ])('changes with %s', (_what, rel, content) => {
    const before = key();
    write(rel, content);
    expect(key()).not.toBe(before);
  });

  it('does not change for packages no dependency reaches (a shadowed copy, an unrelated one)', () => {
    const before = key();
    write('node_modules/shared/index.js', 'shared 1, edited');
    write('node_modules/unrelated/index.js', 'edited');
    expect(key()).toBe(before);
  });

  it('keys nothing when a dependency cannot be found', () => {
    fs.rmSync(path.join(dir, 'node_modules/helper'), { recursive: true });
    expect(key()).toBeUndefined();
  });
});
