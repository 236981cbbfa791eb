/**
 * The one place the client is configured. To go to the real cloud, set `mode: 'cloud'` and your
 * cloud environment id here, and your appid in project.config.json; nothing else needs editing.
 */
export interface AppConfig {
  /** 'sandbox': calls go to the local sandbox (npm start); 'cloud': real wx.cloud. */
  mode: 'sandbox' | 'cloud';
  /** Cloud environment id (云开发环境 ID). */
  envId: string;
  /** Where the sandbox listens. In DevTools use this machine's LAN IP to test on a phone. */
  sandboxUrl: string;
  /** The openid the sandbox attributes calls to (the seeded demo users are listed by `npm start`). */
  sandboxOpenid: string;
  /** The per-start token a sandbox listening beyond loopback wants (sent as X-Sandbox-Token); '' on loopback. */
  sandboxToken: string;
}

/**
 * What `npm start` wrote for the sandbox it started (miniprogram/sandbox-session.js: its address
 * and per-start token; untracked, never uploaded). Absent in a clean clone: the defaults below.
 */
function startedSandbox(): { url?: unknown; token?: unknown } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, generated module
    return (require('./sandbox-session.js') as { url?: unknown; token?: unknown } | null) ?? {};
  } catch {
    return {};
  }
}

const started = startedSandbox();

export const config: AppConfig = {
  mode: 'sandbox',
  envId: 'your-env-id',
  sandboxUrl: typeof started.url === 'string' ? started.url : 'http://127.0.0.1:8787',
  sandboxOpenid: 'o_demo_admin',
  sandboxToken: typeof started.token === 'string' ? started.token : '',
};

/** The headers every sandbox request carries besides its own. */
export function sandboxHeaders(): Record<string, string> {
  return config.sandboxToken ? { 'X-Sandbox-Token': config.sandboxToken } : {};
}
