import { adminAudit, adminCoverage, adminExport, adminLookup } from '../../services/admin';
import { openRemoteDocument } from '../../services/storage';
import type { AdminAuditRequest, AdminCoverageResponse, AuditEntryView } from '../../../shared/contracts';
import { ERRORS } from '../../../shared/errors';
import { checkIdCard } from '../../../shared/idcard';
import { bindingView, formatTime, METHOD_LABELS, type BindingView } from '../../../utils/binding';
import { loadable } from '../../../utils/loadable';

/**
 * An organisation's record (admin only; every query here is itself audited on the server): the
 * roster's coverage by method with a masked export, one person's verification by ID number, and the
 * audit trail by person or for the last 30 days. loading → ready | forbidden | failed.
 */
type Step = 'loading' | 'ready' | 'forbidden' | 'failed';

interface ValueEvent<T> {
  detail: T;
}

interface CoverageView {
  rosterTotal: number;
  verified: number;
  methods: { label: string; count: number }[];
  outsideRoster: number;
}

interface EntryView {
  key: string;
  at: string;
  action: string;
  outcome: string;
  detail: string;
}

function coverageView(c: AdminCoverageResponse): CoverageView {
  return {
    rosterTotal: c.rosterTotal,
    verified: c.verified,
    methods: (Object.keys(c.byMethod) as (keyof typeof c.byMethod)[]).map((m) => ({
      label: METHOD_LABELS[m],
      count: c.byMethod[m],
    })),
    outsideRoster: c.outsideRoster,
  };
}

/**
 * The filter of the audit list shown, per page instance, for its "load more": kept off the page's
 * data (never rendered, never in setData) since it may hold the ID number typed in.
 */
const auditFilters = new WeakMap<object, AdminAuditRequest>();
/** Per page instance, the number of the latest audit query (answers to earlier ones are dropped). */
const auditQueries = new WeakMap<object, number>();

function entryView(e: AuditEntryView, index: number): EntryView {
  const parts = [`操作者 ${e.actor || '定时任务'}`];
  if (e.subject) parts.push(`对象 ${e.subject}`);
  if (e.method) parts.push(METHOD_LABELS[e.method]);
  if (e.count !== undefined) parts.push(`数量 ${e.count}`);
  return {
    key: `${e.at}-${index}`,
    at: formatTime(e.at),
    action: e.action,
    outcome: e.outcome,
    detail: parts.join(' · '),
  };
}

Component({
  // loading → ready | forbidden | failed with a retry (utils/loadable.ts).
  behaviors: [loadable],
  data: {
    step: 'loading' as Step,
    coverage: null as CoverageView | null,
    exporting: false,
    exportNotice: '',
    lookupId: '',
    lookupError: '',
    looking: false,
    lookupDone: false,
    lookupBindings: [] as BindingView[],
    lookupInRoster: false,
    auditId: '',
    auditError: '',
    auditing: false,
    entries: [] as EntryView[],
    /** The cursor of the next (older) page ('' when there is none): shows "加载更多". */
    auditNext: '',
    loadingMore: false,
    auditDone: false,
  },
  methods: {
    async load(): Promise<void> {
      const res = await adminCoverage();
      if (res.ok) this.setData({ step: 'ready', coverage: coverageView(res) });
      else if (res.code === 'FORBIDDEN') this.setData({ step: 'forbidden' });
      else this.loadFailed(res.message);
    },

    async onExport(): Promise<void> {
      this.setData({ exporting: true, exportNotice: '' });
      const res = await adminExport();
      if (!res.ok) {
        this.setData({ exporting: false, exportNotice: res.message });
        return;
      }
      const opened = await openRemoteDocument(res.tempFileURL);
      this.setData({
        exporting: false,
        exportNotice: opened.ok ? '已导出（姓名与身份证号已脱敏）' : `已导出，但无法打开：${opened.message}`,
      });
    },

    onLookupIdChange(e: ValueEvent<string>) {
      this.setData({ lookupId: e.detail, lookupError: '' });
    },
    async onLookup(): Promise<void> {
      const id = checkIdCard(this.data.lookupId);
      if (!id.ok) {
        this.setData({ lookupError: ERRORS[id.code] });
        return;
      }
      this.setData({ looking: true });
      const res = await adminLookup(id.value);
      this.setData({ looking: false });
      if (!res.ok) {
        this.setData({ lookupError: res.message });
        return;
      }
      // The number typed is not kept on the page once answered.
      this.setData({
        lookupId: '',
        lookupDone: true,
        lookupBindings: res.bindings.map(bindingView),
        lookupInRoster: res.inRoster,
      });
    },

    onAuditIdChange(e: ValueEvent<string>) {
      this.setData({ auditId: e.detail, auditError: '' });
    },
    async onAudit(): Promise<void> {
      let idCardNumber: string | undefined;
      if (this.data.auditId.trim() !== '') {
        const id = checkIdCard(this.data.auditId);
        if (!id.ok) {
          this.setData({ auditError: ERRORS[id.code] });
          return;
        }
        idCardNumber = id.value;
      }
      const filter: AdminAuditRequest = idCardNumber ? { idCardNumber } : {};
      // A new query: an answer to an earlier one (its "more" included) arriving later is dropped.
      const query = (auditQueries.get(this) ?? 0) + 1;
      auditQueries.set(this, query);
      this.setData({ auditing: true, auditNext: '', loadingMore: false });
      const res = await adminAudit(filter);
      if (auditQueries.get(this) !== query) return;
      this.setData({ auditing: false });
      if (!res.ok) {
        this.setData({ auditError: res.message });
        return;
      }
      auditFilters.set(this, filter);
      this.setData({
        auditId: '',
        auditDone: true,
        entries: res.entries.map(entryView),
        auditNext: res.next ?? '',
      });
    },

    /** The next (older) page of the same query, appended; a failure shows like the query's own. */
    async onMore(): Promise<void> {
      const filter = auditFilters.get(this);
      if (!filter || this.data.auditNext === '' || this.data.loadingMore) return;
      const query = auditQueries.get(this);
      this.setData({ loadingMore: true, auditError: '' });
      const res = await adminAudit({ ...filter, after: this.data.auditNext });
      if (auditQueries.get(this) !== query) return; // another query started meanwhile
      this.setData({ loadingMore: false });
      if (!res.ok) {
        this.setData({ auditError: res.message });
        return;
      }
      const shown = this.data.entries.length;
      this.setData({
        entries: [...this.data.entries, ...res.entries.map((e, i) => entryView(e, shown + i))],
        auditNext: res.next ?? '',
      });
    },
  },
});
