/** The sandbox's own knobs are read strictly: a malformed SANDBOX_PORT is an error, not NaN. */
import { integerFromEnv, sandboxPort } from '../../../sandbox/env';

it('reads SANDBOX_PORT, 0 to 65535, with the default when unset or blank', () => {
  expect(sandboxPort({}, 8787)).toBe(8787);
  expect(sandboxPort({ SANDBOX_PORT: ' ' }, 8787)).toBe(8787);
  expect(sandboxPort({ SANDBOX_PORT: '0' }, 8787)).toBe(0);
  expect(sandboxPort({ SANDBOX_PORT: '9000' }, 8787)).toBe(9000);
  for (const bad of ['80x', '65536', '-1', '8.5', 'eighty']) {
    expect(() => sandboxPort({ SANDBOX_PORT: bad }, 8787)).toThrow(
      'SANDBOX_PORT must be a whole number from 0 to 65535',
    );
  }
  expect(integerFromEnv({ N: '7' }, 'N', 1, 5, 10)).toBe(7);
});
