/**
 * The configuration plane of the emulated environment: what a deploy applied through the management
 * API (functions with their code, runtime, timeout, memory, variables and timers; collection
 * permissions; the storage permission). The functions run as deployed, not as the manifest says
 * behind the deploy's back; a collection nobody configured has the default the platform gives a
 * collection created by code, and `resetRules()` returns every collection and the storage to the
 * defaults (the state of a team that skipped the rules step).
 *
 * Persisted in `<dataDir>/environment.json`; each function's code in `<dataDir>/functions/<name>/<sha>/`.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

export type Acl = 'READONLY' | 'PRIVATE' | 'ADMINWRITE' | 'ADMINONLY' | 'CUSTOM';
export const ACLS: readonly Acl[] = ['READONLY', 'PRIVATE', 'ADMINWRITE', 'ADMINONLY', 'CUSTOM'];

export interface Permission {
  acl: Acl;
  /** CUSTOM only: the security rule, a JSON string `{ "read": …, "write": … }`. */
  rule?: string;
}

/**
 * What a collection created by code gets when nobody sets its permission: 所有用户可读、仅创建者可读写,
 * as developers report it (the console's own default is the stricter 仅创建者可读写). The weaker one
 * is assumed until a deploy applies the manifest.
 */
export const DEFAULT_COLLECTION_PERMISSION: Permission = Object.freeze({ acl: 'READONLY' });
/** Cloud storage's default: 所有用户可读，仅创建者及管理员可写. */
export const DEFAULT_STORAGE_PERMISSION: Permission = Object.freeze({ acl: 'READONLY' });

export interface Trigger {
  name: string;
  type: string;
  config: string;
}

export interface DeployedFunction {
  name: string;
  runtime: string;
  handler: string;
  timeout: number;
  memory: number;
  description: string;
  env: Record<string, string>;
  triggers: Trigger[];
  codeSha256: string;
  codeSize: number;
  /** Bumped on every change of code or configuration: running instances of an older one retire. */
  revision: number;
  modifiedAt: string;
}

interface State {
  functions: Record<string, DeployedFunction>;
  collections: Record<string, Permission>;
  storage?: Permission;
}

/**
 * A record keyed by names that come from requests (a function called `constructor`, a collection
 * called `__proto__`): no prototype, so a name is found only if it was stored.
 */
function byName<T>(entries: Record<string, T> = {}): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

export class Environment {
  private state: State = { functions: byName(), collections: byName() };
  private readonly file: string;
  readonly codeRoot: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'environment.json');
    this.codeRoot = path.join(dataDir, 'functions');
    if (fs.existsSync(this.file)) {
      // A data dir from before the file was owner-only.
      fs.chmodSync(this.file, 0o600);
      const stored = JSON.parse(fs.readFileSync(this.file, 'utf8')) as State;
      this.state = { ...stored, functions: byName(stored.functions), collections: byName(stored.collections) };
    }
  }

  /** Owner-only (0600), like secrets.json: the deployed variables include the sandbox's secrets. */
  private save(): void {
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.state, null, 2), { mode: 0o600 });
    // A temporary file left by an interrupted save keeps its old mode through writeFileSync.
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file);
  }

  // ------------------------------------------------------------ functions

  functionNames(): string[] {
    return Object.keys(this.state.functions).sort();
  }

  function(name: string): DeployedFunction | undefined {
    const fn = this.state.functions[name];
    return fn ? structuredClone(fn) : undefined;
  }

  /** The folder the function's deployed code was unpacked into. */
  codeDir(fn: Pick<DeployedFunction, 'name' | 'codeSha256'>): string {
    return path.join(this.codeRoot, fn.name, fn.codeSha256.slice(0, 16));
  }

  /** Stores a function's code (files by relative path) and returns its digest and size. */
  storeCode(name: string, files: Map<string, Buffer>): { codeSha256: string; codeSize: number } {
    const hash = crypto.createHash('sha256');
    let size = 0;
    for (const [file, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      hash.update(`${file}\0${content.length}\0`).update(content);
      size += content.length;
    }
    const codeSha256 = hash.digest('hex');
    const dir = this.codeDir({ name, codeSha256 });
    for (const [file, content] of files) {
      const target = path.join(dir, ...file.split('/'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
    }
    return { codeSha256, codeSize: size };
  }

  putFunction(fn: Omit<DeployedFunction, 'revision' | 'modifiedAt'>): DeployedFunction {
    const previous = this.state.functions[fn.name];
    const next: DeployedFunction = {
      ...structuredClone(fn),
      revision: (previous?.revision ?? 0) + 1,
      modifiedAt: new Date().toISOString(),
    };
    this.state.functions[fn.name] = next;
    this.save();
    return structuredClone(next);
  }

  // ------------------------------------------------------------ permissions

  /** The permission in force for a collection: the one applied, else the default. */
  collectionPermission(name: string): Permission {
    return this.state.collections[name] ?? DEFAULT_COLLECTION_PERMISSION;
  }

  setCollectionPermission(name: string, permission: Permission): void {
    this.state.collections[name] = { ...permission };
    this.save();
  }

  storagePermission(): Permission {
    return this.state.storage ?? DEFAULT_STORAGE_PERMISSION;
  }

  setStoragePermission(permission: Permission): void {
    this.state.storage = { ...permission };
    this.save();
  }

  /** Every collection and the storage back to the platform's defaults. */
  resetRules(): void {
    this.state.collections = byName();
    delete this.state.storage;
    this.save();
  }
}
