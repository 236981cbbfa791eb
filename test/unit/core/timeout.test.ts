import { timeLimitOf, timeoutWarning } from '../../../server/core/timeout';

describe('timeoutWarning', () => {
  it('names the deployed and expected timeouts and where to set it', () => {
    expect(timeoutWarning('roster', 3000, 60)).toBe(
      'function timeout is 3 s, below the 60 s roster is built for (server/manifest/functions.ts): ' +
        'set it in 云开发控制台 → 云函数 → roster → 版本与配置',
    );
  });

  it.each([60_000, 90_000, undefined])('is silent for %p when 60 s are expected', (limit) => {
    expect(timeoutWarning('roster', limit, 60)).toBeUndefined();
  });
});

describe('timeLimitOf', () => {
  it('reads time_limit_in_ms from the invocation context', () => {
    expect(timeLimitOf({ time_limit_in_ms: 20000, memory_limit_in_mb: 256 })).toBe(20000);
  });

  it.each([undefined, null, {}, { time_limit_in_ms: '20000' }, { time_limit_in_ms: 0 }, { time_limit_in_ms: NaN }])(
    'answers undefined for %p',
    (context) => {
      expect(timeLimitOf(context)).toBeUndefined();
    },
  );
});
