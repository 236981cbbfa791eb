/** The README is part of the product: it must name every error code and every setting the code has. */
import fs from 'fs';
import path from 'path';
import { ERRORS } from '../../miniprogram/shared/errors';
import { FUNCTIONS } from '../../server/functions/manifest';
import { COLLECTIONS } from '../../server/functions/collections';

const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

it('opens with the two commands: run the sandbox, run all tests', () => {
  const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
  expect(firstBlock).toMatch(/^npm ci && npm test\b/m);
  expect(readme.indexOf('```bash')).toBeLessThan(readme.indexOf('\n## '));
});

it.each(Object.keys(ERRORS))('documents the error code %s', (code) => {
  expect(readme).toContain(code);
});

it.each([...new Set(FUNCTIONS.flatMap((f) => f.env.map((e) => e.name)))])('documents the setting %s', (name) => {
  expect(readme).toContain(name);
});

it.each(COLLECTIONS.map((c) => c.name))('documents the collection %s', (name) => {
  expect(readme).toContain(name);
});

it('documents the first-generation face API shutdown date', () => {
  expect(readme).toContain('2026-06-30');
});
