/**
 * One function instance: a child process that loads a built `cloudfunctions/<name>/index.js` with
 * the real wx-server-sdk and runs one invocation at a time. The SDK reads the caller (`WX_OPENID`,
 * ...) from process env at call time, so one-at-a-time per process keeps concurrent callers apart,
 * like warm instances in the cloud. The sandbox's emulated clock is applied to `Date`.
 */
import fs from 'fs';

interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: unknown;
  context: { openid: string; appid: string; unionid?: string; clientIp?: string; clockOffsetMs: number };
}

const RealDate = Date;
let clockOffsetMs = 0;

class SandboxDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + clockOffsetMs);
    else super(...(args as [string]));
  }

  static now(): number {
    return RealDate.now() + clockOffsetMs;
  }
}
globalThis.Date = SandboxDate as DateConstructor;

/**
 * A limit the sandbox passes from the manifest (sandbox/functions.ts: always a whole number). The
 * worker is self-contained (compiled alone for other Node binaries), so it parses it here.
 */
function limitFromEnv(name: string, fallback: number): number {
  const raw = process.env[name] ?? '';
  return /^\d+$/.test(raw) ? parseInt(raw, 10) : fallback;
}

/**
 * Console output travels over the IPC channel, the same ordered channel as the result, so the
 * sandbox has written an invocation's log lines before it answers the caller. (Separate stdout and
 * IPC pipes race: a test reading the log right after a call could find it empty.) Output that
 * bypasses `process.stdout.write`, such as Node's own fatal errors, still arrives through the pipes.
 */
for (const [stream, level] of [
  [process.stdout, 'out'],
  [process.stderr, 'err'],
] as const) {
  const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    if (!process.connected || !process.send) return original(chunk, ...rest);
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    process.send({ type: 'log', level, text });
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    if (callback) process.nextTick(callback);
    return true;
  }) as typeof stream.write;
}

const entry = process.env.SANDBOX_FUNCTION_ENTRY;
if (!entry) throw new Error('SANDBOX_FUNCTION_ENTRY is not set');

type Main = (event: unknown, context: unknown) => unknown;
let main: Main | undefined;

/**
 * This process's own peak resident memory, MB. On Linux, `VmHWM` in /proc/self/status: the peak of
 * the address space this program runs in, new at exec. `process.resourceUsage().maxRSS` (getrusage's
 * `ru_maxrss`) is preserved across exec (https://man7.org/linux/man-pages/man2/getrusage.2.html), so
 * a worker forked from a sandbox holding a large database would report the sandbox's memory as its own
 * (https://man7.org/linux/man-pages/man5/proc_pid_status.5.html). Elsewhere, maxRSS is what there is.
 */
function peakRssMB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+)\s*kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Math.round(Number(hwm[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

function load(): Main {
  if (!main) {
    // eslint-disable-next-line layers/boundaries -- the deployed bundle to run: a path known at run time
    const mod = require(entry!) as { main?: Main };
    if (typeof mod.main !== 'function') throw new Error(`${entry} does not export main`);
    main = mod.main;
  }
  return main;
}

process.on('message', (message: InvokeMessage) => {
  if (message?.type !== 'invoke') return;
  clockOffsetMs = message.context.clockOffsetMs;
  process.env.WX_OPENID = message.context.openid;
  process.env.WX_APPID = message.context.appid;
  process.env.WX_UNIONID = message.context.unionid ?? '';
  process.env.WX_CLIENTIP = message.context.clientIp ?? '127.0.0.1';
  const started = RealDate.now();
  const cpuBefore = process.cpuUsage();
  const context = {
    callbackWaitsForEmptyEventLoop: false,
    memory_limit_in_mb: limitFromEnv('SANDBOX_MEMORY_MB', 256),
    time_limit_in_ms: limitFromEnv('SANDBOX_TIMEOUT_MS', 60000),
    request_id: `sandbox-${message.id}`,
    environment: '{}',
    function_name: process.env.SCF_FUNCTIONNAME ?? '',
    function_version: '$LATEST',
    namespace: process.env.SCF_NAMESPACE ?? '',
  };
  Promise.resolve()
    .then(() => load()(message.event, context))
    .then(
      (result) => ({ ok: true as const, result: result === undefined ? null : result }),
      (err: unknown) => ({
        ok: false as const,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      }),
    )
    .then((outcome) => {
      process.send?.({
        type: 'result',
        id: message.id,
        ...outcome,
        durationMs: RealDate.now() - started,
        // CPU time this invocation spent (user + system): unlike durationMs, not stretched by a loaded machine.
        cpuMs: Math.round(((cpu) => (cpu.user + cpu.system) / 1000)(process.cpuUsage(cpuBefore))),
        maxRssMB: peakRssMB(),
      });
    });
});

// The code loads while the instance starts, as the cloud's runtime does: its initialization has a
// limit of its own, and the function's timeout counts the invocation only
// (https://www.tencentcloud.com/document/product/583/9694). A module that fails to load reports
// its error on the invocation (load() tries again there).
try {
  load();
} catch {
  // answered by the first invocation
}
process.send?.({ type: 'ready', version: process.version });
