import {
  abortDeadline,
  MIN_SLICE_MS,
  prepareDeadline,
  ReadGuard,
  sliceDeadline,
} from '../../../server/core/roster/slice';
import { RosterFileError } from '../../../server/core/roster/types';

describe('sliceDeadline', () => {
  const t0 = 1_000_000;

  it('uses the configured slice when the timeout leaves room (60 s → 40 s)', () => {
    expect(sliceDeadline(t0, 40_000, 60_000)).toBe(t0 + 40_000);
  });

  it('shrinks the slice to end a quarter of the timeout (at least 5 s) before it', () => {
    expect(sliceDeadline(t0, 40_000, 20_000)).toBe(t0 + 15_000);
    expect(sliceDeadline(t0, 40_000, 10_000)).toBe(t0 + 5_000);
  });

  it('still allows one batch under the console default of 3 s', () => {
    expect(sliceDeadline(t0, 40_000, 3_000)).toBe(t0 + MIN_SLICE_MS);
  });

  it.each([undefined, 0, -1, Number.NaN])('falls back to the configured slice without a usable limit (%p)', (limit) => {
    expect(sliceDeadline(t0, 40_000, limit)).toBe(t0 + 40_000);
  });

  it('keeps a configured slice below the minimum (0: one batch per invocation)', () => {
    expect(sliceDeadline(t0, 0, 60_000)).toBe(t0);
    expect(sliceDeadline(t0, 0, 3_000)).toBe(t0);
  });
});

describe('abortDeadline', () => {
  it('is the deployed timeout less a quarter of it, at most 2.5 s; none when the timeout is unknown', () => {
    const t0 = 1_000_000;
    expect(abortDeadline(t0, 60_000)).toBe(t0 + 57_500);
    expect(abortDeadline(t0, 3_000)).toBe(t0 + 2_250);
    expect(abortDeadline(t0, undefined)).toBeUndefined();
    expect(abortDeadline(t0, Number.NaN)).toBeUndefined();
  });

  it.each([3_000, 10_000, 20_000, 60_000, 900_000])(
    'comes after the prepare pauses (timeout %p ms): a prepare that can pause between batches does',
    (limit) => {
      const t0 = 1_000_000;
      expect(abortDeadline(t0, limit)).toBeGreaterThan(prepareDeadline(t0, 40_000, limit));
    },
  );
});

describe('ReadGuard', () => {
  const failureOf = (check: () => void) => {
    try {
      check();
      return 'no error';
    } catch (err) {
      return err instanceof RosterFileError ? `${err.code}: ${err.publicMessage}` : String(err);
    }
  };

  it('throws ROSTER_TIMEOUT_TOO_SHORT past its time, naming the deployed timeout and the setting', () => {
    let now = 100;
    const guard = new ReadGuard(150, 20_000, () => now);
    expect(failureOf(guard.check)).toBe('no error');
    now = 151;
    expect(failureOf(guard.check)).toMatch(/^ROSTER_TIMEOUT_TOO_SHORT: .*20 秒.*60 秒/);
  });

  it('never throws when the deployed timeout is unknown', () => {
    expect(failureOf(new ReadGuard(undefined, undefined, () => Number.MAX_SAFE_INTEGER).check)).toBe('no error');
  });
});
