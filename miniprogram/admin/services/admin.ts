/** The admin views (admin function): every call is audited on the server. */
import type { AdminAuditRequest, ResponseOf } from '../../shared/contracts';
import { callCloud } from '../../services/cloud';

export function adminCoverage(): Promise<ResponseOf<'admin', 'coverage'>> {
  return callCloud('admin', 'coverage', {});
}

export function adminLookup(idCardNumber: string): Promise<ResponseOf<'admin', 'lookup'>> {
  return callCloud('admin', 'lookup', { idCardNumber });
}

export function adminAudit(request: AdminAuditRequest): Promise<ResponseOf<'admin', 'audit'>> {
  return callCloud('admin', 'audit', request);
}

export function adminExport(): Promise<ResponseOf<'admin', 'export'>> {
  return callCloud('admin', 'export', {});
}
