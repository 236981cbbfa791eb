/**
 * Which backend calls go to. `config.mode` says it, with one guard: a release build (the version
 * users get from WeChat) never talks to a local sandbox, whatever the config says; it refuses with a
 * message naming the fix instead (a silent switch to the cloud could call a placeholder env).
 */
import { config } from '../config';

export type ClientMode = 'sandbox' | 'cloud';

export const RELEASE_SANDBOX_MESSAGE =
  '此版本配置有误：正式版不能连接本地沙箱，请把 miniprogram/config.ts 的 mode 设为 cloud 后重新发布';

/**
 * The running version is the released one (体验版 and 开发版 are not). Anything but a known
 * development or trial answer counts as release: the sandbox is refused rather than risked.
 */
export function isReleaseBuild(): boolean {
  try {
    const version = wx.getAccountInfoSync().miniProgram.envVersion;
    return version !== 'develop' && version !== 'trial';
  } catch {
    // Unknown is treated as release: the sandbox is refused rather than risked.
    return true;
  }
}

/** The mode calls run in, or undefined when they must not run at all (sandbox mode in a release build). */
export function clientMode(): ClientMode | undefined {
  if (config.mode === 'sandbox' && isReleaseBuild()) return undefined;
  return config.mode;
}
