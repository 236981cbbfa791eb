/**
 * The sandbox's own knobs from the environment (SANDBOX_PORT and the values it hands its function
 * processes), read strictly: a malformed value is an error naming the variable, never NaN or a
 * silent default. (The functions' settings are the manifest's, loaded by server/lib/settings.ts.)
 */
type Env = Readonly<Record<string, string | undefined>>;

/** A whole number in `[min, max]` from `env[name]`, or `fallback` when it is unset or blank. */
export function integerFromEnv(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim() ?? '';
  if (raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** SANDBOX_PORT: 0 (a free port) to 65535. */
export function sandboxPort(env: Env, fallback: number): number {
  return integerFromEnv(env, 'SANDBOX_PORT', fallback, 0, 65535);
}
