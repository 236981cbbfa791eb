/**
 * Injected faults (POST /sandbox/faults). A fault is taken by the next calls to its path BEFORE anything
 * else, access_token checks included (emulator choice): a -1 "system busy" is what WeChat answers before
 * looking at the request, it must stay retryable, and it lets tests break the token endpoints themselves.
 * A 40001 fault forces the caller to drop its cached token and fetch again. Rules on one path queue up.
 */
import type { HttpResult } from './types';
import { badInput, isObject } from './util';

const MESSAGES: Record<number, string> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  42001: 'access_token expired',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit',
  94006: 'appid not authorized to get realname info',
  94007: 'appid and mch_id not bound',
};
const MAX_LATENCY_MS = 60_000;
const MAX_TIMES = 10_000;

export interface Fault {
  errcode?: number;
  latencyMs?: number;
}
interface Rule extends Fault {
  remaining: number;
}

function intIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** The fault, or what is wrong with it. */
function parseFault(errcode: unknown, latencyMs: unknown): Fault | string {
  if (errcode === undefined && latencyMs === undefined) return 'give errcode, latencyMs or both';
  const fault: Fault = {};
  if (errcode !== undefined) {
    if (!intIn(errcode, -99_999, 99_999) || errcode === 0) return 'errcode must be a non-zero integer';
    fault.errcode = errcode;
  }
  if (latencyMs !== undefined) {
    if (!intIn(latencyMs, 0, MAX_LATENCY_MS)) return `latencyMs must be an integer from 0 to ${MAX_LATENCY_MS}`;
    fault.latencyMs = latencyMs;
  }
  return fault;
}

export function faultMessage(errcode: number): string {
  return MESSAGES[errcode] ?? `injected fault ${errcode}`;
}

export class FaultTable {
  private readonly rules = new Map<string, Rule[]>();
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  inject(input: unknown): HttpResult {
    if (!isObject(input)) return badInput('a JSON object is expected');
    const { path, errcode, times = 1, latencyMs } = input;
    if (typeof path !== 'string' || !/^\/\S{0,199}$/.test(path)) return badInput('path must start with "/"');
    if (!intIn(times, 1, MAX_TIMES)) return badInput(`times must be an integer from 1 to ${MAX_TIMES}`);
    const fault = parseFault(errcode, latencyMs);
    if (typeof fault === 'string') return badInput(fault);
    const queue = this.rules.get(path) ?? [];
    queue.push({ ...fault, remaining: times });
    this.rules.set(path, queue);
    return { status: 200, body: { path, times } };
  }

  /** Consumes one use of the first pending fault on `path`. */
  take(path: string): Fault | undefined {
    const queue = this.rules.get(path);
    const rule = queue?.[0];
    if (!queue || !rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) queue.shift();
    if (queue.length === 0) this.rules.delete(path);
    const { remaining: _remaining, ...fault } = rule;
    return fault;
  }

  /** Waits `ms` (real time); close() wakes every sleeper at once. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleeping.add(entry);
    });
  }

  close(): void {
    for (const entry of this.sleeping) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.sleeping.clear();
    this.rules.clear();
  }
}
