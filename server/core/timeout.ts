/**
 * The deployed timeout, checked against the one a function is built for (the manifest). A cloud
 * function's context carries its configured timeout as `time_limit_in_ms`; miniprogram-ci cannot set
 * it, and a function created without it gets the console's 3 s default, which cuts WeChat calls
 * (with their retries) and roster slices short.
 */

/** The platform's timeout from an invocation context, if it carries a usable one. */
export function timeLimitOf(context: unknown): number | undefined {
  const value = (context as { time_limit_in_ms?: unknown } | null | undefined)?.time_limit_in_ms;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** A warning when the deployed timeout is below what `fn` is built for, else undefined. */
export function timeoutWarning(
  fn: string,
  timeLimitMs: number | undefined,
  expectedSeconds: number,
): string | undefined {
  if (timeLimitMs === undefined || timeLimitMs >= expectedSeconds * 1000) return undefined;
  return (
    `function timeout is ${Math.round(timeLimitMs / 1000)} s, below the ${expectedSeconds} s ${fn} is built for ` +
    `(server/manifest/functions.ts): set it in 云开发控制台 → 云函数 → ${fn} → 版本与配置`
  );
}
