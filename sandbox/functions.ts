/**
 * Runs the deployed cloud functions (the code a deploy uploaded, unmodified, with the real
 * wx-server-sdk bundled in) in pooled child processes: one invocation at a time per process, a few
 * processes per function, the deployed timeout enforced by killing the instance, V8 heap capped at
 * the deployed memory, the deployed variables as its environment, stdout/stderr captured to the
 * sandbox log. A function that was never deployed does not exist.
 */
import { fork, type ChildProcess } from 'child_process';
import fs from 'fs';
import path from 'path';

export interface InvokeContext {
  openid: string;
  appid: string;
}

export type InvokeResult =
  | { ok: true; result: unknown; durationMs: number; cpuMs: number; maxRssMB: number }
  | { ok: false; error: string; durationMs: number; cpuMs?: number; maxRssMB?: number; timedOut?: boolean };

/** A function as deployed: where its entry file is and how it runs. */
export interface FunctionSettings {
  entry: string;
  timeout: number;
  memory: number;
  env: Record<string, string>;
  /** Changes with every deploy of code or configuration: instances of an older one retire. */
  revision: number;
}

export interface FunctionRunnerOptions {
  baseEnv: Record<string, string>;
  /** The deployed function, or undefined when there is none of that name. */
  resolve: (name: string) => FunctionSettings | undefined;
  clockOffsetMs: () => number;
  logFile: string;
  echo?: boolean;
  maxInstances?: number;
  /**
   * Another Node.js binary for the function instances (e.g. the cloud runtime's Node 16 or 18),
   * so the unmodified bundles are exercised on the versions they are deployed to (the worker is
   * then compiled for Node 16).
   */
  nodePath?: string;
  /** Where the worker compiled to plain JavaScript is written (default: the log file's folder). */
  scratchDir?: string;
}

interface Instance {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  revision: number;
}

const WORKER = path.join(__dirname, 'worker.ts');
/**
 * How long an instance may take to start (process, runtime, the function's code loaded) before it
 * is killed: the cloud's initialization limit, separate from the function's timeout. Assumed:
 * SCF's default initialization timeout for event functions (60 s); the sandbox does not model
 * setting it.
 */
export const INIT_TIMEOUT_MS = 60_000;

export class FunctionRunner {
  private pools = new Map<string, Instance[]>();
  private waiting = new Map<string, Array<() => void>>();
  private nextId = 1;
  private worker: { file: string; execArgv: string[]; execPath?: string };
  /** `process.version` of each instance that started (the matrix check reads it). */
  readonly versions = new Set<string>();
  private logFd: number;
  private closed = false;

  constructor(private readonly options: FunctionRunnerOptions) {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    this.logFd = fs.openSync(options.logFile, 'a');
    this.worker = compileWorker(options.nodePath, options.scratchDir ?? path.dirname(options.logFile));
  }

  private writeLog(line: string): void {
    if (this.logFd < 0) return;
    fs.writeSync(this.logFd, line);
    if (this.options.echo) process.stdout.write(line);
  }

  /** The deployed function `name`, if there is one. */
  deployed(name: string): FunctionSettings | undefined {
    if (!/^[a-z][\w-]*$/i.test(name)) return undefined;
    const settings = this.options.resolve(name);
    return settings && fs.existsSync(settings.entry) ? settings : undefined;
  }

  private spawn(name: string, settings: FunctionSettings): Instance {
    const child = fork(this.worker.file, [], {
      execPath: this.worker.execPath,
      execArgv: [...this.worker.execArgv, `--max-old-space-size=${settings.memory}`],
      env: {
        ...this.options.baseEnv,
        ...settings.env,
        SANDBOX_FUNCTION_ENTRY: settings.entry,
        SANDBOX_MEMORY_MB: String(settings.memory),
        SANDBOX_TIMEOUT_MS: String(settings.timeout * 1000),
        SCF_FUNCTIONNAME: name,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // Line-buffered per source; written synchronously so the log is complete when a call answers.
    const lineWriter = (level: string) => {
      let buffered = '';
      return (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) this.writeLog(`${new Date().toISOString()} [${name}] ${level} ${line}\n`);
      };
    };
    const pipe = (stream: NodeJS.ReadableStream | null, level: string) => {
      stream?.setEncoding('utf8');
      stream?.on('data', lineWriter(level));
    };
    pipe(child.stdout, 'out');
    pipe(child.stderr, 'err');
    const ipcLog = { out: lineWriter('out'), err: lineWriter('err') };
    child.on('message', (message: { type?: string; level?: string; text?: unknown }) => {
      if (message?.type !== 'log' || typeof message.text !== 'string') return;
      (message.level === 'err' ? ipcLog.err : ipcLog.out)(message.text);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onReady = (message: { type?: string; version?: string }) => {
        if (message?.type !== 'ready') return;
        child.off('message', onReady);
        if (message.version) this.versions.add(message.version);
        resolve();
      };
      child.on('message', onReady);
      child.once('exit', (code) => reject(new Error(`function ${name} exited during start (code ${code})`)));
    });
    ready.catch(() => undefined);
    const initLimit = setTimeout(() => child.kill('SIGKILL'), INIT_TIMEOUT_MS);
    void ready.then(
      () => clearTimeout(initLimit),
      () => clearTimeout(initLimit),
    );
    const instance: Instance = { child, ready, busy: false, revision: settings.revision };
    child.on('exit', () => this.retire(name, instance));
    return instance;
  }

  private retire(name: string, instance: Instance): void {
    const pool = this.pools.get(name) ?? [];
    const at = pool.indexOf(instance);
    if (at >= 0) pool.splice(at, 1);
    if (instance.child.exitCode === null) instance.child.kill('SIGKILL');
    this.wake(name);
  }

  private wake(name: string): void {
    const next = this.waiting.get(name)?.shift();
    next?.();
  }

  /** An idle instance of the current deployment, a new one if the pool has room, else wait. */
  private async acquire(name: string, settings: FunctionSettings, fresh: boolean): Promise<Instance> {
    const pool = this.pools.get(name) ?? [];
    this.pools.set(name, pool);
    for (const stale of pool.filter((i) => !i.busy && i.revision !== settings.revision)) this.retire(name, stale);
    for (;;) {
      if (this.closed) throw new Error('sandbox is shutting down');
      const idle = fresh ? undefined : pool.find((i) => !i.busy && i.revision === settings.revision);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (pool.length < (this.options.maxInstances ?? 4)) {
        const instance = this.spawn(name, settings);
        instance.busy = true;
        pool.push(instance);
        await instance.ready;
        return instance;
      }
      if (fresh) {
        const victim = pool.find((i) => !i.busy);
        if (victim) {
          this.retire(name, victim);
          continue;
        }
      }
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(name) ?? [];
        queue.push(resolve);
        this.waiting.set(name, queue);
      });
    }
  }

  /**
   * Invokes `name` as `context.openid`. `fresh` runs it in a new process (benchmarks measure its
   * peak RSS alone) that is discarded afterwards.
   */
  async invoke(name: string, event: unknown, context: InvokeContext, fresh = false): Promise<InvokeResult> {
    const settings = this.deployed(name);
    if (!settings) return { ok: false, error: `FunctionName parameter could not be found: ${name}`, durationMs: 0 };
    const instance = await this.acquire(name, settings, fresh);
    const id = this.nextId++;
    const started = Date.now();
    return new Promise<InvokeResult>((resolve) => {
      const finish = (result: InvokeResult, keep: boolean) => {
        clearTimeout(timer);
        instance.child.off('message', onMessage);
        instance.child.off('exit', onExit);
        instance.busy = false;
        if (keep && !fresh) this.wake(name);
        else this.retire(name, instance);
        resolve(result);
      };
      const onMessage = (message: { type: string; id: number } & Record<string, unknown>) => {
        if (message.type !== 'result' || message.id !== id) return;
        const durationMs = Number(message.durationMs);
        const cpuMs = Number(message.cpuMs);
        const maxRssMB = Number(message.maxRssMB);
        if (message.ok) finish({ ok: true, result: message.result, durationMs, cpuMs, maxRssMB }, true);
        else finish({ ok: false, error: String(message.error), durationMs, cpuMs, maxRssMB }, true);
      };
      const onExit = (code: number | null, signal: string | null) =>
        finish(
          { ok: false, error: `function exited (code ${code}, signal ${signal})`, durationMs: Date.now() - started },
          false,
        );
      const timer = setTimeout(() => {
        finish(
          {
            ok: false,
            error: `Task timed out after ${settings.timeout} seconds`,
            durationMs: Date.now() - started,
            timedOut: true,
          },
          false,
        );
      }, settings.timeout * 1000);
      instance.child.on('message', onMessage);
      instance.child.once('exit', onExit);
      try {
        instance.child.send({
          type: 'invoke',
          id,
          event,
          context: { openid: context.openid, appid: context.appid, clockOffsetMs: this.options.clockOffsetMs() },
        });
      } catch (err) {
        // An event that cannot be serialised (nested too deep) never reached the instance: it is
        // free at once, not held until the timeout.
        finish({ ok: false, error: `the event could not be sent: ${(err as Error).message}`, durationMs: 0 }, true);
      }
    });
  }

  /**
   * Kills every busy instance of `name` at once, as an instance crash (or a host failure) would:
   * the invocations answer "function exited". Answers how many were killed. For fault tests.
   */
  crash(name: string): number {
    const busy = (this.pools.get(name) ?? []).filter((i) => i.busy);
    for (const instance of busy) instance.child.kill('SIGKILL');
    return busy.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()].flat();
    await Promise.all(
      all.map(
        (i) =>
          new Promise<void>((resolve) => {
            if (i.child.exitCode !== null || i.child.signalCode !== null) return resolve();
            i.child.once('exit', () => resolve());
            i.child.kill('SIGKILL');
          }),
      ),
    );
    for (const queue of this.waiting.values()) queue.splice(0).forEach((wake) => wake());
    if (this.logFd >= 0) fs.closeSync(this.logFd);
    this.logFd = -1;
  }
}

/** The worker compiled to CommonJS, by target: once per process, whatever the number of sandboxes. */
const compiledWorkers = new Map<string, string>();

/**
 * The worker as plain CommonJS, run by `node` without a TypeScript register: every instance the
 * sandbox starts would otherwise load esbuild and transform the worker again (a second process per
 * instance start). For another Node binary (`nodePath`), compiled for the oldest runtime the cloud
 * offers.
 */
function compileWorker(
  nodePath: string | undefined,
  scratchDir: string,
): { file: string; execArgv: string[]; execPath?: string } {
  if (nodePath !== undefined && !fs.existsSync(nodePath)) {
    throw new Error(`SANDBOX_FUNCTION_NODE: ${nodePath} does not exist`);
  }
  const target = nodePath ? 'node16' : `node${process.versions.node.split('.')[0]}`;
  let code = compiledWorkers.get(target);
  if (code === undefined) {
    // Loaded lazily: only this needs esbuild at run time.
    const esbuild = require('esbuild') as typeof import('esbuild');
    code = esbuild.transformSync(fs.readFileSync(WORKER, 'utf8'), {
      loader: 'ts',
      format: 'cjs',
      target,
      sourcefile: WORKER,
    }).code;
    // transformSync runs in a thread of esbuild's own (with its esbuild process) that lives on, unref'd,
    // until the process exits. Done with it: stopped now (a later call starts another). Without this,
    // a jest worker (a module registry per suite, so an esbuild per suite) piles up one thread per
    // suite, and ending them at exit took longer than jest waits on a loaded machine ("A worker
    // process has failed to exit gracefully"). Nothing here uses esbuild's async service.
    void esbuild.stop();
    compiledWorkers.set(target, code);
  }
  fs.mkdirSync(scratchDir, { recursive: true });
  const file = path.join(scratchDir, 'function-worker.js');
  fs.writeFileSync(file, code);
  return { file, execArgv: [], ...(nodePath ? { execPath: path.resolve(nodePath) } : {}) };
}
