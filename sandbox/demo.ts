/**
 * Demo data for `npm start`: made-up people with checksum-valid ID numbers (never real persons),
 * the demo openids, and the seeded admin. The client's sandbox screens list these identities.
 */
import { makeIdCard } from '../miniprogram/shared/idcard';

export interface DemoIdentity {
  label: string;
  name: string;
  idCardNumber: string;
}

export const DEMO_ADMIN_OPENID = 'o_demo_admin';
export const DEMO_USER_OPENID = 'o_demo_user';

export const DEMO_IDENTITIES: DemoIdentity[] = [
  { label: '普通姓名', name: '张三', idCardNumber: makeIdCard('440106', '19900101', '123') },
  { label: '少数民族姓名（含“·”）', name: '买买提·吐尔逊', idCardNumber: makeIdCard('650102', '19851120', '457') },
  { label: '生僻字姓名', name: '李𬌗', idCardNumber: makeIdCard('320102', '19771203', '248') },
  { label: '末位为 X', name: '王五', idCardNumber: '11010519491231002X' },
];
