/**
 * A JSON HTTP(S) request with a hard deadline for the whole exchange (not just socket idle time),
 * on `http`/`https` (the cloud still offers Node 16, which has no global fetch).
 */
import http from 'http';
import https from 'https';
import { AppError } from '../core/errors';

/** The deadline passed: answered as WeChat being busy (the user may try again). */
export class HttpTimeoutError extends AppError {
  override name = 'HttpTimeoutError' as const;

  constructor(readonly path: string) {
    super('WECHAT_BUSY', { detail: `request to ${path} timed out`, logged: true });
  }
}

export function requestJson(
  url: string,
  options: { method: 'GET' | 'POST'; body?: unknown; timeoutMs: number },
): Promise<unknown> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
  return new Promise((resolveAnswer, rejectAnswer) => {
    // The path only in the error: the query string holds the access_token.
    const deadline = setTimeout(() => req.destroy(new HttpTimeoutError(target.pathname)), options.timeoutMs);
    const resolve = (value: unknown) => {
      clearTimeout(deadline);
      resolveAnswer(value);
    };
    const reject = (err: unknown) => {
      clearTimeout(deadline);
      rejectAnswer(err);
    };
    const req = transport.request(
      target,
      {
        method: options.method,
        headers: payload
          ? { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length }
          : undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve(JSON.parse(text) as unknown);
          } catch {
            resolve({ errcode: -2, errmsg: `HTTP ${res.statusCode}: not JSON` });
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
