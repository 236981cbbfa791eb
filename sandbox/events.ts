/**
 * Events as the platform hands them to a function. A call from a mini-program gets `userInfo`
 * ({ appId, openId }) added to the client's data, replacing any the client sent ("云函数的传入参数中会被
 * 注入用户的 openid … 与 openid 一起注入云函数的还有小程序的 appid": https://docs.cloudbase.net/cloud-function/sdk).
 * Functions read the caller from getWXContext, never from the event; this keeps them honest about
 * events carrying fields no client wrote (request checkers ignore fields their contract does not name).
 */
export function withUserInfo(event: unknown, userInfo: Readonly<Record<string, string>>): unknown {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return event;
  return { ...(event as Record<string, unknown>), userInfo: { ...userInfo } };
}
