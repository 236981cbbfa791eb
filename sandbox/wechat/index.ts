/**
 * Emulated WeChat open APIs (https://api.weixin.qq.com<path>) for the local sandbox: a pure in-process module.
 * The HTTP server mounts `handle` under /wechat/... and the simulation inputs under /sandbox/....
 * State lives in memory. Nothing here logs; names and ID numbers never reach any output.
 *
 * Request order in `handle`: count → injected fault (latency, then errcode) → route (404 when unknown) →
 * HTTP method (43001/43002) → access_token (all but the two token endpoints) → the endpoint.
 */
import { CityCheckEmulator, type CityCheckScenario } from './citycheck';
import { FaceEmulator } from './face';
import { FaultTable, faultMessage } from './faults';
import { RealnameEmulator } from './realname';
import { TokenStore } from './token';
import type { HttpResult, WechatEmulatorOptions } from './types';
import { wxError } from './util';

export type { Category, Clock, FaceIdentifyEvent, HttpResult, Merchant, WechatEmulatorOptions } from './types';
export { certHash } from './face';
export { DEFAULT_CATEGORIES } from './realname';

interface Route {
  method: 'GET' | 'POST';
  /** Needs ?access_token= */
  auth: boolean;
  run: (query: URLSearchParams, body: unknown) => HttpResult;
}

export class WechatEmulator {
  private readonly tokens: TokenStore;
  private readonly face: FaceEmulator;
  private readonly realname: RealnameEmulator;
  private readonly cityCheck: CityCheckEmulator;
  private readonly faults = new FaultTable();
  private readonly counts = new Map<string, number>();
  private readonly routes: ReadonlyMap<string, Route>;

  constructor(options: WechatEmulatorOptions) {
    const { appid, secret, merchant, clock } = options;
    if (!appid || !secret || !merchant.mchId)
      throw new Error('WechatEmulator: appid, secret and merchant are required');
    if (!/^[0-9A-F]{40}$/.test(merchant.serialNo))
      throw new Error('WechatEmulator: serialNo must be 40 upper-case hex');
    this.tokens = new TokenStore({ appid, secret, clock });
    this.face = new FaceEmulator(clock, appid, options.pushFaceEvent);
    this.realname = new RealnameEmulator(clock, merchant, options.categories);
    this.cityCheck = new CityCheckEmulator(clock);
    const post = (run: (body: unknown) => HttpResult): Route => ({
      method: 'POST',
      auth: true,
      run: (_q, b) => run(b),
    });
    this.routes = new Map<string, Route>([
      ['/cgi-bin/stable_token', { method: 'POST', auth: false, run: (_q, body) => this.tokens.stableToken(body) }],
      ['/cgi-bin/token', { method: 'GET', auth: false, run: (query) => this.tokens.basicToken(query) }],
      ['/cityservice/face/identify/getverifyid', post((body) => this.face.getVerifyId(body))],
      ['/cityservice/face/identify/queryverifyinfo', post((body) => this.face.queryVerifyInfo(body))],
      ['/cityservice/face/identify/getuseridkey', post((body) => this.face.getUserIdKey(body))],
      ['/cityservice/face/identify/getinfo', post((body) => this.face.getInfo(body))],
      ['/wxa/get_category', { method: 'GET', auth: true, run: () => this.realname.getCategory() }],
      ['/cgi-bin/wxopen/getrealnameinfo', post((body) => this.realname.getRealnameInfo(body))],
      ['/intp/realname/checkrealnameinfo', post((body) => this.cityCheck.check(body))],
    ]);
  }

  /** One request to https://api.weixin.qq.com<path>; body = parsed JSON (undefined for GET). */
  async handle(method: string, path: string, query: URLSearchParams, body: unknown): Promise<HttpResult> {
    this.count(path);
    const fault = this.faults.take(path);
    if (fault?.latencyMs) await this.faults.sleep(fault.latencyMs);
    if (fault?.errcode !== undefined) return wxError(fault.errcode, faultMessage(fault.errcode));
    const route = this.routes.get(path);
    if (!route) return { status: 404, body: { errcode: 404, errmsg: `not emulated: ${path}` } };
    if (method.toUpperCase() !== route.method) {
      return route.method === 'POST' ? wxError(43002, 'require POST method') : wxError(43001, 'require GET method');
    }
    const refused = route.auth ? this.tokens.check(query) : undefined;
    return refused ?? route.run(query, body);
  }

  /** POST /sandbox/face/complete */
  completeFace(input: {
    openid: string;
    verifyId?: string;
    userIdKey?: string;
    name?: string;
    idCardNumber?: string;
    outcome: 'pass' | 'fail' | 'cancel';
  }): HttpResult {
    this.count('/sandbox/face/complete');
    return this.face.complete(input);
  }

  /** POST /sandbox/realname/authorize → { auth_token } */
  authorizeRealname(input: {
    openid: string;
    name: string;
    idCardNumber: string;
    scenario?: 'ok' | 'no_wxpay' | 'no_realname';
  }): HttpResult {
    this.count('/sandbox/realname/authorize');
    return this.realname.authorize(input);
  }

  /** POST /sandbox/citycheck/authorize → { code }: the user agreed on the city service's consent page. */
  authorizeCityCheck(input: {
    openid: string;
    name?: string;
    idCardNumber?: string;
    scenario?: CityCheckScenario;
  }): HttpResult {
    this.count('/sandbox/citycheck/authorize');
    return this.cityCheck.authorize(input);
  }

  /** POST /sandbox/faults: the next `times` calls to `path` answer { errcode, errmsg } and/or wait latencyMs. */
  injectFault(input: { path: string; errcode?: number; times?: number; latencyMs?: number }): HttpResult {
    this.count('/sandbox/faults');
    return this.faults.inject(input);
  }

  /** Calls per path (WeChat paths and /sandbox/... inputs), for tests and benchmarks. */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Cancels push retries and wakes pending latency waits. */
  close(): void {
    this.face.close();
    this.faults.close();
  }

  private count(path: string): void {
    this.counts.set(path, (this.counts.get(path) ?? 0) + 1);
  }
}
