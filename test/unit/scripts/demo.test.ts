/** `npm run demo` prints each request and answer in short, personal fields masked. */
import fs from 'fs';
import path from 'path';
import { brief, TOUR_NAMES } from '../../../scripts/demo';

const person = { name: '林小雨', idCardNumber: '11010519880101123X' };

it('masks names, ID numbers and document numbers wherever they sit in a request or answer', () => {
  const text = brief({ ...person, nested: { docNumber: 'E12345678', name: 'JOHN SMITH' } });
  expect(text).toContain('"name":"林**"');
  expect(text).toContain('"idCardNumber":"1101**********123X"');
  expect(text).toContain('"docNumber":"E******78"');
  expect(text).not.toContain(person.name);
  expect(text).not.toContain(person.idCardNumber);
  expect(text).not.toContain('E12345678');
  expect(text).not.toContain('JOHN SMITH');
});

it('cuts long values and long lines', () => {
  expect(brief({ fileID: 'x'.repeat(100) })).toBe(`{"fileID":"${'x'.repeat(24)}…"}`);
  expect(brief({ entries: Array.from({ length: 50 }, (_, i) => i) }).length).toBeLessThanOrEqual(160);
});

it('lists every name the tour types (the start test checks none of them is printed)', () => {
  const source = fs.readFileSync(path.resolve(__dirname, '../../../scripts/demo.ts'), 'utf8');
  // someone('…'), name: '…', a roster row push(['…', and the names a loop walks (['…', '…'].entries()).
  const single = [...source.matchAll(/(?:someone\(|name: |push\(\[)'([^'\n]+)'/g)].map((m) => m[1]!);
  const looped = [...source.matchAll(/\[((?:'[^'\n]+', )*'[^'\n]+')\]\.entries\(\)/g)].flatMap((m) =>
    [...m[1]!.matchAll(/'([^']+)'/g)].map((n) => n[1]!),
  );
  const typed = [...single, ...looped];
  expect(typed.length).toBeGreaterThan(5);
  for (const name of typed) expect(TOUR_NAMES).toContain(name);
});
