/** Shared set-up for the emulated WeChat API tests. */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { type Merchant, WechatEmulator, type WechatEmulatorOptions } from '../../../sandbox/wechat';

export const APPID = 'wx5a1d0b3c9e7f2468';
export const SECRET = 'sandbox-secret-0f1e2d3c4b5a69788796a5b4';

export class TestClock {
  constructor(public ms = Date.UTC(2026, 0, 15, 2, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface MerchantKeys {
  merchant: Merchant;
  privateKey: KeyObject;
}

export function makeMerchant(): MerchantKeys {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    merchant: {
      mchId: '1900006511',
      serialNo: randomBytes(20).toString('hex').toUpperCase(),
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
    privateKey,
  };
}

let shared: MerchantKeys | undefined;
/** One RSA key pair per test file (generation is the slow part). */
export function sharedMerchant(): MerchantKeys {
  shared ??= makeMerchant();
  return shared;
}

export type Answer = { status: number; body: Record<string, unknown> };

export class Harness {
  readonly clock = new TestClock();
  readonly emulator: WechatEmulator;
  readonly keys = sharedMerchant();
  private token = '';

  constructor(options: Partial<WechatEmulatorOptions> = {}) {
    this.emulator = new WechatEmulator({
      appid: APPID,
      secret: SECRET,
      merchant: this.keys.merchant,
      clock: this.clock,
      ...options,
    });
  }

  async raw(method: string, path: string, query: Record<string, string>, body?: unknown): Promise<Answer> {
    const result = await this.emulator.handle(method, path, new URLSearchParams(query), body);
    return result as Answer;
  }

  async stableToken(extra: Record<string, unknown> = {}): Promise<Answer> {
    return this.raw(
      'POST',
      '/cgi-bin/stable_token',
      {},
      {
        grant_type: 'client_credential',
        appid: APPID,
        secret: SECRET,
        ...extra,
      },
    );
  }

  /** POST with a valid stable token (fetched once). */
  async post(path: string, body: unknown): Promise<Answer> {
    if (this.token === '') this.token = String((await this.stableToken()).body.access_token);
    return this.raw('POST', path, { access_token: this.token }, body);
  }

  async get(path: string): Promise<Answer> {
    if (this.token === '') this.token = String((await this.stableToken()).body.access_token);
    return this.raw('GET', path, { access_token: this.token });
  }
}
