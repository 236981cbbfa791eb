/**
 * Where a running sandbox is and the token it wants, for the tools on this machine that drive it
 * (the CLI, `npm run demo`, `npm run deploy -- --sandbox`): `<dataDir>/session.json`, 0600, written
 * at start and removed at stop. The token changes with every start; it is never committed.
 */
import fs from 'fs';
import path from 'path';

export interface SandboxSession {
  url: string;
  /** Absent when the sandbox listens on loopback only (no token is needed there). */
  token?: string;
}

export function sessionFile(dataDir: string): string {
  return path.join(dataDir, 'session.json');
}

export function writeSession(dataDir: string, session: SandboxSession): void {
  const file = sessionFile(dataDir);
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, JSON.stringify(session), { mode: 0o600 });
}

/** Removes the session file if it still describes the sandbox at `url` (another start may have replaced it). */
export function removeSession(dataDir: string, url: string): void {
  if (readSession(dataDir)?.url === url) fs.rmSync(sessionFile(dataDir), { force: true });
}

export function readSession(dataDir: string): SandboxSession | undefined {
  try {
    const value = JSON.parse(fs.readFileSync(sessionFile(dataDir), 'utf8')) as Partial<SandboxSession>;
    if (typeof value.url !== 'string') return undefined;
    return { url: value.url, ...(typeof value.token === 'string' ? { token: value.token } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * The headers a tool sends to the sandbox at `url`: the token of the session in `dataDir` when that
 * session is the sandbox at `url` (a token never goes to another address).
 */
export function sessionHeaders(dataDir: string, url: string): Record<string, string> {
  const session = readSession(dataDir);
  return session?.token && sameSandbox(session.url, url) ? { 'X-Sandbox-Token': session.token } : {};
}

/** `url` reaches the sandbox at `sessionUrl`: the same address, or this machine's loopback on its port. */
export function sameSandbox(sessionUrl: string, url: string): boolean {
  try {
    const a = new URL(sessionUrl);
    const b = new URL(url);
    if (a.port !== b.port || a.protocol !== b.protocol) return false;
    return a.hostname === b.hostname || ['127.0.0.1', 'localhost', '[::1]'].includes(b.hostname);
  } catch {
    return false;
  }
}
