/** Loads a setting group from the environment; a failure becomes a ConfigError naming what is missing. */
import { ConfigError, type Logger } from '../core/router';

export function requireConfig<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** At instance start: says once, in the log, which settings are missing (the values are never printed). */
export function reportMissingConfig(logger: Logger, loaders: Record<string, () => unknown>): void {
  for (const [group, load] of Object.entries(loaders)) {
    try {
      load();
    } catch (err) {
      logger.error(`configuration incomplete: ${group}`, { problem: (err as Error).message });
    }
  }
}
