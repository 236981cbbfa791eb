/**
 * Loads a real page with miniprogram-simulate and the official wcc compiler. The page's vant
 * components come from the nearest miniprogram_npm above the page (the npm build's copy of
 * `@vant/weapp/lib`, the CommonJS build; a subpackage has its own, as the compiler resolves it),
 * mapped from the page's own index.json so the test sees what the page declares.
 * wcc compiles every .wxml (and .wxs) it is given, so it gets the mini-program folder's, with the
 * page's own npm build and no other (three copies of vant would overflow its output buffer).
 */
import fs from 'fs';
import path from 'path';

// Loaded for its side effect: it installs `global.Component` and merges its `wx` into global.wx.
const simulate = require('miniprogram-simulate') as typeof import('miniprogram-simulate');

export const ROOT = path.resolve(__dirname, '../..');
export const MINIPROGRAM = path.join(ROOT, 'miniprogram');

/** `index` → pages/index/index; a path with a slash is a subpackage page (`admin/pages/review-queue`). */
export function pagePath(page: string): string {
  return page.includes('/') ? path.join(MINIPROGRAM, page, 'index') : path.join(MINIPROGRAM, 'pages', page, 'index');
}

/** `/verify/miniprogram_npm`: the nearest npm build above `componentPath` (the compiler's resolution). */
function nearestNpm(componentPath: string): string {
  for (let dir = path.dirname(componentPath); dir.startsWith(MINIPROGRAM); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'miniprogram_npm/@vant/weapp'))) {
      return `/${path.relative(MINIPROGRAM, path.join(dir, 'miniprogram_npm')).split(path.sep).join('/')}`;
    }
  }
  throw new Error('miniprogram_npm is missing: run `npm run build` first');
}

function vantComponents(componentPath: string): Record<string, string> {
  const npm = nearestNpm(componentPath);
  const json = JSON.parse(fs.readFileSync(`${componentPath}.json`, 'utf8')) as {
    usingComponents?: Record<string, string>;
  };
  const mapped: Record<string, string> = {};
  for (const [tag, target] of Object.entries(json.usingComponents ?? {})) {
    const match = /^@vant\/weapp\/(.+)$/.exec(target);
    if (match) mapped[tag] = `${npm}/@vant/weapp/${match[1]}`;
  }
  return mapped;
}

/** The mini-program's `ext` files (relative paths), of the npm build `npm` and of no other. */
function sourcesWith(npm: string, ext: string, dir = MINIPROGRAM): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    const relative = path.relative(MINIPROGRAM, full).split(path.sep).join('/');
    if (entry.isDirectory()) {
      return entry.name === 'miniprogram_npm' && `/${relative}` !== npm ? [] : sourcesWith(npm, ext, full);
    }
    return entry.name.endsWith(ext) ? [relative] : [];
  });
}

export type Rendered = ReturnType<typeof simulate.render>;

const loaded = new Map<string, string>();

/**
 * Renders and attaches a fresh instance of a page. Each page is loaded once per test file (jest's
 * module registry would not run the page's `Component()` a second time), then rendered per test.
 * One page per test file: for the same reason, vant's components register only with the first page
 * loaded in a file, and a second page would show them as empty tags.
 */
export function renderPage(page: string): Rendered {
  const id = loaded.get(page) ?? loadPage(page);
  loaded.set(page, id);
  const comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

function loadPage(page: string): string {
  const file = pagePath(page);
  const npm = nearestNpm(file);
  const id = simulate.load(file, {
    rootPath: MINIPROGRAM,
    compiler: 'official',
    compilerOptions: { wxmlList: sourcesWith(npm, '.wxml'), wxsList: sourcesWith(npm, '.wxs') },
    usingComponents: vantComponents(file),
  });
  return id;
}

/**
 * Waits until `predicate` holds (pages update asynchronously after service calls). The default bound
 * is generous: a call may start a function instance, which takes seconds on a loaded machine; the
 * bound only turns a hang into a clear failure before jest's timeout.
 */
export async function waitFor(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error('waitFor: condition not met in time');
    await simulate.sleep(10);
  }
}

export { simulate };

/** Taps a `<van-button id=...>`: the tap lands on vant's inner `<button>`, which emits `click`. */
export function tapButton(page: Rendered, selector: string): void {
  const host = page.querySelector(selector);
  if (!host) throw new Error(`tapButton: no ${selector}`);
  const inner = host.querySelector('.van-button');
  if (!inner) throw new Error(`tapButton: ${selector} is not a van-button`);
  inner.dispatchEvent('tap');
}
