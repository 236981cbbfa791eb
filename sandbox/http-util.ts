import type http from 'http';

export const MAX_BODY = 50 * 1024 * 1024;

/** A request the caller got wrong: answered with `status` and this message, never as the sandbox's 500. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const tooLarge = () => new BadRequest(`request body too large (over ${MAX_BODY} bytes)`, 413);

/** Whether the request says up front that its body is over MAX_BODY. */
export function declaredTooLarge(req: http.IncomingMessage): boolean {
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > MAX_BODY;
}

/**
 * The request's body, at most MAX_BODY bytes. Over it (declared, or sent), the answer is a 413:
 * what follows is read and dropped, never kept, and the connection closes after the answer (see
 * `closeAfter`), so the client reads the 413 instead of a reset.
 */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredTooLarge(req)) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const waiting = awaitingContinue.get(req);
    if (waiting) {
      awaitingContinue.delete(req);
      waiting.removeHeader('connection');
      waiting.writeContinue();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Requests sent with `Expect: 100-continue` whose body no one has asked for yet. */
const awaitingContinue = new WeakMap<http.IncomingMessage, http.ServerResponse>();

/**
 * A request that waits for `100 Continue` before its body: the go-ahead is sent only when a route
 * reads the body (`readBody`), after the guard and the routing have accepted it. Answered without
 * it (a 403, a 404), the connection closes, since the body it holds back was never read.
 */
export function continueOnRead(req: http.IncomingMessage, res: http.ServerResponse): void {
  closeAfter(res);
  awaitingContinue.set(req, res);
}

/** How long a refused upload may pause before its connection is closed on it. */
const LINGER_IDLE_MS = 5_000;

/**
 * The 413 for a body found too large while it is still coming. Closing at once would reset a
 * client still writing, which then reads an EPIPE or a reset instead of the answer; so the answer
 * goes out whole, what still comes is read and dropped (at most another MAX_BODY bytes, while it
 * keeps coming), and the connection closes when the client stops sending (as nginx's lingering
 * close does).
 */
export function refuseTooLarge(req: http.IncomingMessage, res: http.ServerResponse, message: string): void {
  const text = JSON.stringify({ error: message });
  closeAfter(res);
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  if (req.complete) {
    res.end(text);
    return;
  }
  res.write(text);
  let dropped = 0;
  const finish = () => {
    clearTimeout(idle);
    if (!res.writableEnded) res.end();
  };
  const idle = setTimeout(() => req.destroy(), LINGER_IDLE_MS);
  idle.unref();
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > MAX_BODY) req.destroy();
    else idle.refresh();
  });
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}

/** An answer after which the connection closes (a body left unread is not read on). */
export function closeAfter(res: http.ServerResponse): void {
  res.setHeader('connection', 'close');
}

/**
 * How deep a JSON body may nest: far past any request of ours (contracts nest a few levels, database
 * queries a few more), far below what serialising it again (to a function's process) can take.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether the JSON text nests objects or arrays deeper than `limit` (a top-level object is depth 1).
 * Read off the text before it is parsed, in one pass that keeps nothing: a body of 50 MB (a flat
 * array of millions of values, say) costs a scan, not a walk over every value it would parse to.
 * Brackets inside strings do not count; an escape (`\"`, `\\`) does not end a string.
 */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return false;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The content of the first file part of a multipart/form-data body (what wx.uploadFile sends). */
export function parseMultipart(body: Buffer, contentType: string): Buffer | undefined {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(start, headerEnd).toString('utf8');
    const next = body.indexOf(delimiter, headerEnd);
    if (next < 0) return undefined;
    if (/filename=/i.test(headers)) return body.subarray(headerEnd + 4, next - 2);
    start = next;
  }
  return undefined;
}
