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
}

export const config: AppConfig = {
  mode: 'sandbox',
  envId: 'your-env-id',
  sandboxUrl: 'http://127.0.0.1:8787',
  sandboxOpenid: 'o_demo_admin',
};
