/** Public types of the emulated WeChat open APIs (re-exported by ./index). */

/** The sandbox's emulated clock, epoch ms (tests may move it forward). */
export interface Clock {
  now(): number;
}

/** The WeChat Pay merchant: the sandbox keeps the private key, the emulator sees the public key only. */
export interface Merchant {
  mchId: string;
  serialNo: string;
  publicKeyPem: string;
}

/** The face_identify message push of the first-generation API (seed 000, "后台消息推送"). */
export interface FaceIdentifyEvent {
  ToUserName: string;
  FromUserName: string;
  CreateTime: number;
  MsgType: 'event';
  Event: 'face_identify';
  openid: string;
  out_seq_no: string;
  verify_result: string;
}

export interface Category {
  first_class: string;
  second_class: string;
  third_class?: string;
  first_id: number;
  second_id: number;
  third_id?: number;
}

export interface WechatEmulatorOptions {
  appid: string;
  secret: string;
  merchant: Merchant;
  clock: Clock;
  /** Delivers the face_identify push; resolves true when the receiver acknowledged. Retried for about 5 s. */
  pushFaceEvent?: (event: FaceIdentifyEvent) => Promise<boolean>;
  categories?: Category[];
}

export interface HttpResult {
  status: number;
  body: unknown;
}
