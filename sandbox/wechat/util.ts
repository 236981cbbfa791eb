/** Small helpers shared by the emulated endpoints. Nothing here logs: names and ID numbers never reach output. */
import { randomBytes } from 'node:crypto';
import type { Clock, HttpResult } from './types';

export type JsonObject = Record<string, unknown>;
export type Parsed<T> = { ok: true; value: T } | { ok: false; result: HttpResult };

/** A WeChat success answer: HTTP 200, errcode 0. */
export function ok(fields: JsonObject = {}): HttpResult {
  return { status: 200, body: { errcode: 0, errmsg: 'ok', ...fields } };
}

/** A WeChat-level error: HTTP 200 like the real API. */
export function wxError(errcode: number, errmsg: string): HttpResult {
  return { status: 200, body: { errcode, errmsg } };
}

/** A bad simulation input (the /sandbox/... endpoints): HTTP 400. */
export function badInput(error: string): HttpResult {
  return { status: 400, body: { error } };
}

export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A POST body: global codes 44002 (empty post data) and 47001 (data format error). */
export function readBody(body: unknown): Parsed<JsonObject> {
  if (body === undefined || body === null || body === '') {
    return { ok: false, result: wxError(44002, 'empty post data') };
  }
  if (!isObject(body)) return { ok: false, result: wxError(47001, 'data format error: a JSON object is expected') };
  return { ok: true, value: body };
}

/** Required non-empty string fields; 47001 names the first one missing (emulator choice of code). */
export function requireStrings<K extends string>(obj: JsonObject, keys: readonly K[]): Parsed<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = obj[key];
    if (typeof value !== 'string' || value.trim() === '') {
      return { ok: false, result: wxError(47001, `data format error: ${key} must be a non-empty string`) };
    }
    out[key] = value;
  }
  return { ok: true, value: out as Record<K, string> };
}

/** A sandbox input field that must be a non-empty string (undefined when absent). */
export function optionalString(obj: JsonObject, key: string): Parsed<string | undefined> {
  const value = obj[key];
  if (value === undefined) return { ok: true, value: undefined };
  if (typeof value !== 'string' || value.trim() === '') {
    return { ok: false, result: badInput(`${key} must be a non-empty string`) };
  }
  return { ok: true, value };
}
