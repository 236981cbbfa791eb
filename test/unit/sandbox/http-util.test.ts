import { MAX_JSON_DEPTH, nestedDeeperThan } from '../../../sandbox/http-util';

const nested = (levels: number, inner = '1') => `${'{"a":'.repeat(levels)}${inner}${'}'.repeat(levels)}`;

describe('nestedDeeperThan (read off the JSON text)', () => {
  it('counts objects and arrays, a top-level object as depth 1', () => {
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan(nested(63, '[1]'), 64)).toBe(false);
    expect(nestedDeeperThan(nested(64, '[1]'), 64)).toBe(true);
    expect(nestedDeeperThan('[[[]]]', 2)).toBe(true);
    expect(nestedDeeperThan('[[],[],[]]', 2)).toBe(false);
    expect(nestedDeeperThan('', 1)).toBe(false);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const brackets = '['.repeat(500) + '{'.repeat(500);
    expect(nestedDeeperThan(JSON.stringify({ x: brackets }), 2)).toBe(false);
    // An escaped quote does not end the string; an escaped backslash before a quote does.
    expect(nestedDeeperThan(JSON.stringify({ x: `"${brackets}` }), 2)).toBe(false);
    expect(nestedDeeperThan(JSON.stringify({ x: `\\`, y: [[[1]]] }), 3)).toBe(true);
    expect(nestedDeeperThan(JSON.stringify({ x: `\\`, y: [[1]] }), 3)).toBe(false);
  });

  it('scans a flat body of millions of values without walking them', () => {
    const flat = `{"a":[${'0,'.repeat(5_000_000)}0]}`;
    expect(nestedDeeperThan(flat, MAX_JSON_DEPTH)).toBe(false);
    expect(nestedDeeperThan(`{"a":[${'0,'.repeat(5_000_000)}[[1]]]}`, 2)).toBe(true);
  });
});
