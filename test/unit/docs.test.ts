/**
 * The documentation is part of the product: the README (front page) and docs/*.md must name every
 * error code (with its meaning and fix), every setting and collection the code has; every relative
 * link must lead to a file and heading that exist; every `npm run X` must be a script.
 */
import fs from 'fs';
import path from 'path';
import { ACTIONS } from '../../miniprogram/shared/contracts';
import { ERRORS } from '../../miniprogram/shared/errors';
import { COLLECTIONS, FUNCTIONS, VARIABLES, type VariableName } from '../../server/manifest';
import { ENV_EXAMPLE, envExample } from '../../scripts/env-example';

const ROOT = path.resolve(__dirname, '../..');
const DOCS = path.join(ROOT, 'docs');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

const readme = read('README.md');
/** README.md and every docs/*.md, by path from the repository root. */
const pages: Record<string, string> = {
  'README.md': readme,
  ...Object.fromEntries(
    fs
      .readdirSync(DOCS)
      .filter((name) => name.endsWith('.md'))
      .map((name) => [`docs/${name}`, read(`docs/${name}`)]),
  ),
};
const all = Object.values(pages).join('\n');

it('opens with the two commands: run the sandbox, run all tests', () => {
  const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
  expect(firstBlock).toMatch(/^npm ci && npm test\b/m);
  const commands = firstBlock.split('\n').filter((line) => /^\s*npm\b/.test(line));
  expect(commands.slice(0, 2).map((line) => line.split('#')[0]!.trim())).toEqual([
    'npm ci && npm start',
    'npm ci && npm test',
  ]);
  expect(readme.indexOf('```bash')).toBeLessThan(readme.indexOf('\n## '));
});

it('keeps the README a front page that links every page of docs/', () => {
  expect(readme.split('\n').length).toBeLessThan(120);
  const pagesOfDocs = Object.keys(pages).filter((file) => file.startsWith('docs/'));
  expect(pagesOfDocs.length).toBeGreaterThanOrEqual(6);
  for (const file of pagesOfDocs) expect(readme).toContain(`](${file})`);
});

/** The rows of the error-code table in docs/troubleshooting.md: codes, meaning, fix. */
function errorRows(): Array<{ codes: string[]; meaning: string; fix: string }> {
  const text = pages['docs/troubleshooting.md'] ?? '';
  const table = text.slice(text.indexOf('| code'));
  return table
    .split('\n')
    .slice(2)
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [codes = '', meaning = '', fix = ''] = line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim());
      return { codes: [...codes.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!), meaning, fix };
    });
}

it.each(Object.keys(ERRORS))('documents the error code %s with its meaning and fix', (code) => {
  const row = errorRows().find((r) => r.codes.includes(code));
  expect(row).toBeDefined();
  expect(row!.meaning).not.toBe('');
  expect(row!.fix).not.toBe('');
});

it.each(Object.entries(ACTIONS).flatMap(([fn, actions]) => actions.map((a) => `${fn}.${a}`)))(
  'documents the gateway parameters of %s',
  (action) => {
    const table = (pages['docs/sandbox.md'] ?? '').split('\n').filter((line) => line.startsWith('| `'));
    expect(table.find((line) => line.split('|')[1]!.includes(`\`${action}\``))).toBeDefined();
  },
);

it.each([...new Set(FUNCTIONS.flatMap((f) => f.env.map((e) => e.name)))])('documents the setting %s', (name) => {
  expect(all).toContain(name);
});

/** The docs' row of a variable in the settings table (the line that starts with its name). */
function rowOf(name: string): string {
  return all.split('\n').find((line) => line.startsWith(`| \`${name}\``)) ?? '';
}

it.each(Object.keys(VARIABLES) as VariableName[])('documents the default and range of %s', (name) => {
  const spec = VARIABLES[name];
  const row = rowOf(name);
  expect(row).not.toBe('');
  if ('default' in spec && spec.default !== undefined) expect(row).toContain(`\`${spec.default}\``);
  if (spec.kind === 'integer') expect(row).toContain(`${spec.min}–${spec.max}`);
  if (spec.kind === 'choice') for (const value of spec.values) expect(row).toContain(`\`${value}\``);
  const functions = FUNCTIONS.filter((f) => f.env.some((v) => v.name === name)).map((f) => f.name);
  expect(row).toContain(`| ${functions.join(', ')} `);
  expect(row).toMatch(spec.secret ? /\| \*\*是\*\* +\|/ : /\| 否 +\|/);
});

it.each(COLLECTIONS.map((c) => c.name))('documents the collection %s', (name) => {
  expect(all).toContain(`\`${name}\``);
});

it('documents the first-generation face API shutdown date', () => {
  expect(all).toContain('2026-06-30');
});

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a page's headings (outside code blocks), numbered as GitHub numbers repeats. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of withoutCode(text).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = slug(match[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** `text` without fenced code blocks and inline code (links there are examples, not links). */
function withoutCode(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** Every relative link of every page: [page, target]. */
function relativeLinks(): Array<[string, string]> {
  const links: Array<[string, string]> = [];
  for (const [file, text] of Object.entries(pages)) {
    const prose = withoutCode(text).replace(/`[^`\n]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push([file, target]);
    }
  }
  return links;
}

it('finds the links it checks (the link check below is not vacuous)', () => {
  const links = relativeLinks();
  expect(links.length).toBeGreaterThan(30);
  expect(links.some(([, target]) => target.includes('#'))).toBe(true);
  expect(anchorsOf(readme).has('快速上手')).toBe(true);
  expect(slug('不用开发者工具：终端走查（`npm run demo`）')).toBe('不用开发者工具终端走查npm-run-demo');
});

it('has no broken relative link: every file and every heading linked to exists', () => {
  const broken: string[] = [];
  for (const [file, target] of relativeLinks()) {
    const [pathPart = '', anchor] = target.split('#');
    const resolved = pathPart === '' ? path.join(ROOT, file) : path.resolve(ROOT, path.dirname(file), pathPart);
    if (!fs.existsSync(resolved)) {
      broken.push(`${file}: ${target} (no such file)`);
      continue;
    }
    if (anchor === undefined) continue;
    const anchors = fs.statSync(resolved).isFile() ? anchorsOf(fs.readFileSync(resolved, 'utf8')) : new Set();
    if (!anchors.has(decodeURIComponent(anchor))) broken.push(`${file}: ${target} (no such heading)`);
  }
  expect(broken).toEqual([]);
});

it('mentions only `npm run` scripts that exist', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const mentioned = new Set([...all.matchAll(/npm run ([a-z][\w:-]*)/g)].map((m) => m[1]!));
  expect(mentioned.size).toBeGreaterThan(8);
  expect([...mentioned].filter((name) => !(name in scripts))).toEqual([]);
});

it('deploy.env.example lists every variable as the manifest declares it', () => {
  // Regenerate with: node scripts/run.js scripts/env-example.ts
  expect(fs.readFileSync(ENV_EXAMPLE, 'utf8')).toBe(envExample());
});
