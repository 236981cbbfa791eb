/**
 * The one table of stable error codes. Cloud functions answer `{ ok: false, code, message }` with a
 * code from here; the client shows `message` (Chinese, safe to display) and may branch on `code`.
 * The client's own failures (the network, the device, the sandbox) use the same table and the same
 * `Failure` shape, so every call site handles one result type. Codes are API: never rename one, add
 * new ones instead.
 */
export const ERRORS = {
  // --- common ---
  INVALID_REQUEST: '请求参数不正确',
  UNKNOWN_ACTION: '不支持的操作',
  NOT_CONFIGURED: '服务尚未完成配置，请联系管理员',
  FORBIDDEN: '没有权限执行此操作',
  WECHAT_BUSY: '微信服务繁忙，请稍后重试',
  WECHAT_ERROR: '微信接口调用失败，请稍后重试',
  RATE_LIMITED: '操作过于频繁，请稍后再试',
  METHOD_DISABLED: '本服务未开放这种认证方式，请选择其他方式',
  INTERNAL: '系统错误，请稍后重试',
  FILE_LINK_FAILED: '文件已生成，但暂时无法取得下载链接，请稍后重试',

  // --- the client's own failures (never answered by a function) ---
  NETWORK: '网络异常，请检查网络后重试',
  CANCELLED: '已取消',
  WECHAT_OUTDATED: '当前微信版本过低，请升级微信到最新版本后重试',
  FILE_CHOOSE_FAILED: '无法选择文件，请重试',
  FILE_UPLOAD_FAILED: '文件上传失败，请检查网络后重试',
  FILE_DOWNLOAD_FAILED: '文件下载失败，请稍后重试',
  FILE_OPEN_FAILED: '无法打开该文件，请稍后重试',
  SANDBOX_UNREACHABLE: '无法连接本地沙箱，请确认已运行 npm start',
  SANDBOX_REFUSED: '本地沙箱未接受该请求（可能已过期），请重新开始',

  // --- identity input (shared by face, real-name and roster rows) ---
  CONSENT_REQUIRED: '请先阅读并同意《实名信息使用说明》',
  CONSENT_OUTDATED: '说明内容已更新，请重新打开页面阅读后再同意',
  VERIFICATION_REQUIRED: '请先完成实名认证',
  WITHDRAWN: '您已撤回实名信息，本次认证结果未保存',
  AUDIT_RANGE_INVALID: '查询时间范围无效：开始须早于结束，且不超过 366 天',
  ROTATION_KEY_MISSING: '有数据使用的密钥不在当前配置中：请把旧密钥列入 PII_ENC_KEYS_OLD 后重试',
  ROTATION_BUSY: '密钥轮换正在另一处进行，请稍后查看进度',
  OPERATOR_DISABLED: '本环境未启用操作员调用：请在部署配置中设置 OPERATOR_KEY 并重新部署',
  OPERATOR_SIGNATURE_INVALID: '操作员签名不正确：请确认使用的是本环境当前的 OPERATOR_KEY',
  OPERATOR_EXPIRED: '操作员请求已过期（时间相差超过 5 分钟）：请校准电脑时间后重试',
  OPERATOR_REPLAYED: '该操作员请求已使用过，不能重复提交',
  OPERATOR_MIXED: '小程序用户的调用不能携带操作员签名',
  OPERATOR_NOT_ALLOWED: '该操作不接受操作员调用',
  NAME_REQUIRED: '请填写姓名',
  NAME_INVALID: '姓名格式不正确（2–30 个汉字、字母或“·”）',
  ID_REQUIRED: '请填写身份证号',
  ID_15_DIGIT: '15 位身份证号已停用，请使用 18 位身份证号',
  ID_FORMAT: '身份证号应为 18 位（前 17 位数字，最后一位数字或 X）',
  ID_REGION: '身份证号的地区码不正确',
  ID_DATE: '身份证号中的出生日期不正确',
  ID_CHECKSUM: '身份证号校验位不正确，请检查是否输错',
  PHONE_INVALID: '手机号格式不正确（应为 11 位，以 1 开头）',

  // --- face verification ---
  FACE_SESSION_NOT_FOUND: '核身会话不存在，请重新开始',
  FACE_SESSION_EXPIRED: '核身会话已过期，请重新开始',
  FACE_SESSION_USED: '该核身结果已使用，请重新开始',
  FACE_NOT_OWNER: '该核身会话不属于当前用户',
  FACE_NOT_PASSED: '人脸核身未通过',
  FACE_CANCELLED: '人脸核身已取消',
  FACE_IDENTITY_MISMATCH: '核身结果与填写的身份信息不一致',
  FACE_RESULT_EXPIRED: '核身结果已过期，请重新核身',
  FACE_RESULT_INVALID: '核身凭据无效，请重新核身',
  FACE_RATE_LIMITED: '操作过于频繁，请稍后再试',
  FACE_UNSUPPORTED: '当前设备不支持人脸核身',
  FACE_CAPTURE_FAILED: '人脸核身未完成，请重试',

  // --- WeChat Pay real-name authorization ---
  REALNAME_NO_WXPAY: '当前微信未开通微信支付，无法授权实名信息',
  REALNAME_NO_INFO: '当前微信支付账户未实名，无法授权实名信息',
  REALNAME_TOKEN_INVALID: '授权凭证无效或已过期，请重新授权',
  REALNAME_TOKEN_USED: '该授权凭证已使用，请重新授权',
  REALNAME_NOT_AUTHORIZED: '本小程序未开通实名信息授权能力',
  REALNAME_MERCHANT_CONFIG: '商户配置有误（证书序列号、签名、商户号或时间），请联系管理员',
  REALNAME_DECRYPT_FAILED: '实名信息处理失败，请稍后重试',

  // --- city-service real-name check (城市服务实名信息校验) ---
  REALNAME_CHECK_NO_REALNAME: '当前微信尚未完成微信支付实名认证，无法校验，请改用其他方式',
  REALNAME_CHECK_NAME_MISMATCH: '填写的姓名与微信支付实名信息不一致',
  REALNAME_CHECK_ID_MISMATCH: '填写的身份证号与姓名不匹配',
  REALNAME_CHECK_CODE_INVALID: '授权已失效，请重新点击“去微信授权”',
  REALNAME_CHECK_CODE_USED: '该授权已使用，请重新点击“去微信授权”',
  REALNAME_CHECK_NOT_AUTHORIZED: '本小程序未开通城市服务实名信息校验能力',
  REALNAME_CHECK_INVALID: '实名校验结果无法确认，请稍后重试',

  // --- staff verification (人工核验) ---
  DOC_TYPE_INVALID: '请选择证件类型',
  DOC_REQUIRED: '请填写证件号码',
  DOC_HK_MO_FORMAT: '港澳居民来往内地通行证号码应为 H 或 M 开头加 8 位数字（旧证另加 2 位）',
  DOC_TW_FORMAT: '台湾居民来往大陆通行证号码应为 8 位数字（旧证 10 位）',
  DOC_RESIDENCE_FORMAT: '港澳台居民居住证号码应为 18 位（前 17 位数字，最后一位数字或 X），含有效的出生日期',
  DOC_RESIDENCE_REGION: '港澳台居民居住证号码应以 810000（香港）、820000（澳门）或 830000（台湾）开头',
  DOC_FOREIGN_FORMAT: '外国人永久居留身份证号码应为 9 开头的 18 位，或 3 个字母加 12 位数字（旧证）',
  DOC_PASSPORT_FORMAT: '护照号码应为 5–20 位字母或数字',
  DOC_CHECKSUM: '证件号码校验位不正确，请检查是否输错',
  DOC_NAME_INVALID: '姓名应与证件一致（2–60 个汉字、字母、空格或“·”）',
  REVIEW_PENDING_EXISTS: '您已有一份待审核的申请，请等待审核结果',
  REVIEW_NOT_FOUND: '审核申请不存在',
  REVIEW_ALREADY_DECIDED: '该申请已经审核过了',
  REVIEW_OWN_REQUEST: '不能审核自己提交的申请',
  REVIEW_NUMBER_REQUIRED: '通过前请照着证件原件输入完整的证件号码',
  REVIEW_NUMBER_MISMATCH: '输入的号码与申请人提交的不一致：请核对证件原件，不一致时请驳回',
  REVIEW_REASON_REQUIRED: '驳回时请填写原因（1–200 字），申请人会看到它',

  // --- roster import ---
  ROSTER_FILE_NOT_FOUND: '找不到上传的文件，请重新上传',
  ROSTER_UPLOAD_NOT_RESERVED: '该文件不是通过本服务预留的上传位置上传的（或预留已超过 2 小时）：请重新选择文件上传',
  ROSTER_FILE_UNREADABLE: '无法读取该文件，请上传 .xlsx、.xls 或 .csv 表格',
  ROSTER_FILE_TOO_LARGE: '文件过大，请拆分后分批导入',
  ROSTER_FILE_CHANGED: '上传的文件在导入过程中被替换了：本次导入已停止，请重新上传并导入',
  ROSTER_NO_HEADER: '未找到表头：表格需要包含“姓名”和“身份证号”列',
  ROSTER_SHEET_NOT_FOUND: '找不到指定的工作表',
  ROSTER_JOB_NOT_FOUND: '导入任务不存在',
  ROSTER_ALREADY_IMPORTING: '相同文件正在导入中，请勿重复提交',
  ROSTER_JOB_ABANDONED: '导入任务长时间没有继续，已终止并删除上传的文件，请重新导入',
  ROSTER_JOB_STALLED: '导入任务长时间没有进展，请稍后重新导入',
  ROSTER_FILE_XLSB: '不支持 Excel 二进制工作簿（.xlsb）：请在 Excel 中“另存为” .xlsx 格式后上传',
  ROSTER_FILE_ODS: '不支持 OpenDocument 表格（.ods）：请另存为 .xlsx、.xls 或 .csv 后上传',
  ROSTER_FILE_ENCRYPTED: '文件设置了打开密码：请在 Excel 中取消密码（文件 → 信息 → 保护工作簿），另存为 .xlsx 后上传',
  ROSTER_XLS_TOO_COMPLEX:
    '该 .xls 文件过大或结构过于复杂，无法在限定内存内读取：请在 Excel 中“另存为” .xlsx 格式后上传',
  ROSTER_TOO_MANY_ROWS: '行数超过上限（Excel 的 1,048,576 行）：请拆分后分批导入',
  ROSTER_TOO_MANY_COLUMNS: '列数超过上限（Excel 的 16,384 列）或某一行内容过长：请只保留名单所需的列',
  ROSTER_TOO_MANY_MERGES: '合并单元格过多：请取消合并单元格（开始 → 合并后居中 → 取消合并）后上传',
  ROSTER_TOO_MANY_STRINGS: '文件中的文字总量超过上限：请删除与名单无关的工作表或拆分后分批导入',
  ROSTER_TOO_MUCH_TEXT:
    '表格中的文字总量超过上限（例如同一段长文字被大量单元格引用）：请只保留名单所需的列，删除过长的内容后上传',
  ROSTER_NO_DATA: '表格只有表头，没有可导入的数据行',
  ROSTER_TIMEOUT_TOO_SHORT:
    '云函数 roster 的超时时间太短，一次调用内读不完该文件：请把 roster 的超时设为 60 秒（npm run deploy 按 manifest 设置，或在云开发控制台修改）后重新导入',
  ROSTER_CHUNK_LOST: '导入的中间数据已丢失或损坏，任务已终止：请重新上传文件导入',
  ROSTER_REPORT_TRUNCATED: '错误过多，报告只列出前面的部分：请先修正这些问题（常见原因是列顺序或格式不对）',

  // --- roster row errors (each carries row and column) ---
  ROW_REQUIRED: '必填项为空',
  ROW_ID_NUMERIC: '身份证号被存成了数字，后几位已丢失：请把该列设为“文本”后重新填写',
  ROW_DUPLICATE: '与文件中前面的行身份证号重复',
  ROW_UNREADABLE: '该行有无法识别的内容，已跳过',
  ROW_DATE_INVALID: '日期超出范围（应在 1900 年至 9999 年之间）',
  ROW_CONFLICT: '该身份证号已登记为另一个姓名：未导入（确认无误后可选择“接受冲突”重新导入）',
  ROW_FIELD_TOO_LONG: '内容过长，超过该列允许的字数',
  ROW_STORED_UNREADABLE: '该身份证号已有的名单记录无法解密（密钥不符或记录损坏）：未覆盖，请联系技术人员检查',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface Failure {
  ok: false;
  code: ErrorCode;
  message: string;
}

/**
 * The one result shape, on both sides: `{ ok: true, ...value }` or a `Failure`. Every cloud action
 * answers it (`ResponseOf`), and so does every client step that can fail (uploads, the device's face
 * capture, the sandbox's stand-ins).
 */
export type Result<T = Record<never, never>> = ({ ok: true } & T) | Failure;

export function success<T extends object>(value: T): { ok: true } & T {
  return { ok: true, ...value };
}

export function failure(code: ErrorCode, message?: string): Failure {
  return { ok: false, code, message: message ?? ERRORS[code] };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}

/** A validator's verdict as the field's error line: '' when it passed, else its code's message. */
export function messageOf(check: { ok: true } | { ok: false; code: ErrorCode }): string {
  return check.ok ? '' : ERRORS[check.code];
}
