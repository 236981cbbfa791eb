import { MIN_SLICE_MS, sliceDeadline } from '../../../server/core/roster/slice';

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
