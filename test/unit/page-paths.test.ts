/**
 * Page paths stay true after pages move between packages: every page of app.json has its files,
 * every url the mini-program navigates to is a page of app.json, and every page the documentation
 * names is one.
 */
import fs from 'fs';
import path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const MINIPROGRAM = path.join(ROOT, 'miniprogram');

interface AppJson {
  pages: string[];
  subPackages?: { root: string; pages: string[] }[];
}
const app = JSON.parse(fs.readFileSync(path.join(MINIPROGRAM, 'app.json'), 'utf8')) as AppJson;
const PAGES = new Set([
  ...app.pages,
  ...(app.subPackages ?? []).flatMap((p) => p.pages.map((page) => `${p.root}/${page}`)),
]);

/** Source files of the mini-program (not the npm builds). */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'miniprogram_npm' ? [] : sources(full);
    return /\.(ts|wxml)$/.test(entry.name) ? [full] : [];
  });
}

/** The markdown documentation: the README and docs/, if there is one. */
function docs(): string[] {
  const dir = path.join(ROOT, 'docs');
  const extra = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.md')) : [];
  return [path.join(ROOT, 'README.md'), ...extra.map((f) => path.join(dir, f))];
}

it.each([...PAGES])('the page %s has its four files', (page) => {
  for (const ext of ['ts', 'wxml', 'wxss', 'json']) {
    expect(fs.existsSync(path.join(MINIPROGRAM, `${page}.${ext}`))).toBe(true);
  }
});

it('the home page is the only page in the main package', () => {
  expect(app.pages).toEqual(['pages/index/index']);
});

it('every url the mini-program opens is a page of app.json', () => {
  const urls = sources(MINIPROGRAM).flatMap((file) =>
    [...fs.readFileSync(file, 'utf8').matchAll(/\burl(?:=|:\s*)["'](\/[\w/-]+)["']/g)].map((m) => ({
      file: path.relative(ROOT, file),
      page: m[1]!.slice(1),
    })),
  );
  // The home page's methods, its 我的实名信息 cell and the admin cells.
  expect(urls.length).toBeGreaterThanOrEqual(8);
  expect(urls.filter((u) => !PAGES.has(u.page))).toEqual([]);
});

it('every page the documentation names is a page of app.json', () => {
  const named = docs().flatMap((file) =>
    [...fs.readFileSync(file, 'utf8').matchAll(/`((?:[\w-]+\/)?pages\/[\w-]+)`/g)].map((m) => ({
      file: path.relative(ROOT, file),
      page: `${m[1]}/index`,
    })),
  );
  expect(named.length).toBeGreaterThan(0);
  expect(named.filter((n) => !PAGES.has(n.page))).toEqual([]);
});
