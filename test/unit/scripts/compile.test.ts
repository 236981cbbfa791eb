/**
 * `npm run compile`'s budget (the main package ≤ 100 KB unless --budget says otherwise, never over
 * WeChat's 2 MB) and the npm builds it measures: one per subpackage whose pages use vant, so a
 * component only subpackages use is compiled into them and not into the main package.
 */
import fs from 'fs';
import path from 'path';
import { npmRelations, ROOT } from '../../../scripts/build';
import { budgetOf, MAIN_PACKAGE_BUDGET } from '../../../scripts/compile';
import { overBudget, UsageError } from '../../../scripts/lib/deploy';

describe('budgetOf', () => {
  it('is 100 KB by default, and --budget <KB> otherwise', () => {
    expect(MAIN_PACKAGE_BUDGET).toBe(100 * 1024);
    expect(budgetOf([])).toBe(100 * 1024);
    expect(budgetOf(['--budget', '64'])).toBe(64 * 1024);
    expect(budgetOf(['--budget', '2048'])).toBe(2048 * 1024);
  });

  it.each([['0'], ['-1'], ['lots'], ['2049'], [undefined]])('refuses --budget %s', (value) => {
    const args = value === undefined ? ['--budget'] : ['--budget', value];
    expect(() => budgetOf(args)).toThrow(UsageError);
  });

  it('a main package one byte over the default budget fails the compile', () => {
    const sizes = { files: 1, bytes: 0, main: MAIN_PACKAGE_BUDGET + 1, subpackages: [], largest: [] };
    expect(overBudget(sizes, budgetOf([]))).toEqual([
      `main package is ${MAIN_PACKAGE_BUDGET + 1} bytes (100.0 KB), budget ${MAIN_PACKAGE_BUDGET} bytes (100.0 KB)`,
    ]);
    expect(overBudget({ ...sizes, main: MAIN_PACKAGE_BUDGET }, budgetOf([]))).toEqual([]);
  });
});

describe('npm builds', () => {
  const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'miniprogram/app.json'), 'utf8')) as {
    subPackages: { root: string; pages: string[] }[];
  };
  const dists = npmRelations().map((r) => path.relative(ROOT, r.miniprogramNpmDistDir).split(path.sep).join('/'));

  it('the main package has one', () => {
    expect(dists).toContain('miniprogram');
  });

  it.each(app.subPackages.map((p) => [p.root, p.pages] as const))(
    'the subpackage %s has its own when its pages use vant',
    (root, pages) => {
      const usesVant = pages.some((page) =>
        fs.readFileSync(path.join(ROOT, 'miniprogram', root, `${page}.json`), 'utf8').includes('@vant/weapp/'),
      );
      expect(usesVant).toBe(true);
      expect(dists).toContain(`miniprogram/${root}`);
    },
  );
});
