/** The README is part of the product: it must name every error code and every setting the code has. */
import fs from 'fs';
import path from 'path';
import { ERRORS } from '../../miniprogram/shared/errors';
import { COLLECTIONS, FUNCTIONS, VARIABLES, type VariableName } from '../../server/manifest';
import { ENV_EXAMPLE, envExample } from '../../scripts/env-example';

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

/** The README's row of a variable in the settings table (the line that starts with its name). */
function rowOf(name: string): string {
  return readme.split('\n').find((line) => line.startsWith(`| \`${name}\``)) ?? '';
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
  expect(readme).toContain(name);
});

it('documents the first-generation face API shutdown date', () => {
  expect(readme).toContain('2026-06-30');
});

it('deploy.env.example lists every variable as the manifest declares it', () => {
  // Regenerate with: node scripts/run.js scripts/env-example.ts
  expect(fs.readFileSync(ENV_EXAMPLE, 'utf8')).toBe(envExample());
});
