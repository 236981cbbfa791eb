import { ping } from '../../../services/ping';
import {
  chooseRosterFile,
  driveRosterJob,
  getRosterAccess,
  getRosterReport,
  getRosterTemplate,
  importRoster,
  type RosterFile,
  uploadRosterFile,
} from '../../services/roster';
import { openRemoteDocument } from '../../services/storage';
import type { RosterImportMode, RosterJobStatus, RosterRowError } from '../../../shared/contracts';
import { failure, isErrorCode, type Result } from '../../../shared/errors';

/**
 * checking → choose → working (upload, then the dry run) → preview → working (upload again, then the
 * import) → done. denied: the caller is no roster admin; unavailable: the access check failed.
 */
type Step = 'checking' | 'unavailable' | 'denied' | 'choose' | 'working' | 'preview' | 'done';

/** While working: sending the file, checking it (dry run) or writing it. */
type Phase = 'upload' | 'check' | 'import';

interface ErrorView {
  key: string;
  row: number;
  column: string;
  message: string;
}

/** A finished job as the page shows it: counts and the first row errors (row, column and rule: never a cell's value). */
interface SummaryView {
  jobId: string;
  sheet: string;
  total: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Rows whose ID is already stored under another name (not written unless accepted). */
  conflicts: number;
  failed: number;
  /** Row errors other than conflicts. */
  errors: ErrorView[];
  /** The conflicting rows (row numbers only: never a name). */
  conflictRows: ErrorView[];
  /** Row errors not listed on the page (see the error report). */
  hiddenErrors: number;
  hasReport: boolean;
  /** Rows the real import would write. */
  writable: number;
}

/** Row errors listed on the page; the report has them all. */
const SHOWN_ERRORS = 20;

const PHASE_TEXT: Record<Phase, string> = {
  upload: '正在上传文件…',
  check: '正在校验名单（不会写入）…',
  import: '正在导入名单…',
};

function errorView(error: RosterRowError, index: number): ErrorView {
  return { key: `${index}-${error.row}-${error.column}`, row: error.row, column: error.column, message: error.message };
}

function summaryView(status: RosterJobStatus): SummaryView {
  const conflictRows = status.errors
    .filter((e) => e.code === 'ROW_CONFLICT')
    .slice(0, SHOWN_ERRORS)
    .map(errorView);
  const rowErrors = status.errors.filter((e) => e.code !== 'ROW_CONFLICT');
  const errors = rowErrors.slice(0, SHOWN_ERRORS).map(errorView);
  return {
    jobId: status.jobId,
    sheet: status.sheet,
    total: status.total,
    inserted: status.inserted,
    updated: status.updated,
    unchanged: status.unchanged,
    conflicts: status.conflicts,
    failed: status.failed,
    errors,
    conflictRows,
    hiddenErrors: Math.max(0, rowErrors.length - errors.length),
    hasReport: Boolean(status.reportFileID),
    writable: status.inserted + status.updated,
  };
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Sends the file, starts the job and drives it to its end; answers the final status or why not. */
type JobOutcome = Result<{ status: RosterJobStatus }>;

Component({
  data: {
    step: 'checking' as Step,
    unavailableMessage: '',
    /** Shown to a non-admin, to hand to an admin. */
    openid: '',
    templateLoading: false,
    /** The chosen file; its local path is kept to upload it again for the real import. */
    file: null as RosterFile | null,
    fileSize: '',
    phase: 'upload' as Phase,
    phaseText: '',
    uploadPercent: 0,
    processed: 0,
    preview: null as SummaryView | null,
    result: null as SummaryView | null,
    /** merge: absent columns and empty cells keep what is stored; replace: empty cells clear. */
    mode: 'merge' as RosterImportMode,
    /** The admin confirmed that rows whose ID is stored under another name are imported. */
    acceptConflicts: false,
    reportLoading: false,
    error: '',
  },
  lifetimes: {
    attached() {
      void this.checkAccess();
    },
  },
  methods: {
    async checkAccess(): Promise<void> {
      this.setData({ step: 'checking', unavailableMessage: '' });
      const res = await getRosterAccess();
      if (!res.ok) this.setData({ step: 'unavailable', unavailableMessage: res.message });
      else if (res.admin) this.setData({ step: 'choose' });
      else await this.deny();
    },
    async deny(): Promise<void> {
      this.setData({ step: 'denied', file: null, preview: null, result: null });
      const res = await ping();
      if (res.ok) this.setData({ openid: res.openid });
    },

    async onTemplate(): Promise<void> {
      this.setData({ templateLoading: true, error: '' });
      const res = await getRosterTemplate();
      const opened = res.ok ? await openRemoteDocument(res.tempFileURL) : res;
      this.setData({ templateLoading: false, error: opened.ok ? '' : opened.message });
    },

    async onChoose(): Promise<void> {
      const chosen = await chooseRosterFile();
      if (!chosen.ok) {
        if (chosen.code !== 'CANCELLED') this.setData({ error: chosen.message });
        return;
      }
      this.setData({
        step: 'choose',
        file: chosen.file,
        fileSize: sizeText(chosen.file.size),
        preview: null,
        result: null,
        acceptConflicts: false,
        error: '',
      });
      await this.onCheck();
    },

    onMerge(): Promise<void> {
      return this.chooseMode('merge');
    },
    onReplace(): Promise<void> {
      return this.chooseMode('replace');
    },

    /** Merge or replace: the preview's counts depend on it, so a checked file is checked again. */
    async chooseMode(mode: RosterImportMode): Promise<void> {
      if (mode === this.data.mode) return;
      this.setData({ mode });
      if (this.data.step === 'preview' && this.data.file) await this.onCheck();
    },

    onAcceptConflicts(): void {
      this.setData({ acceptConflicts: !this.data.acceptConflicts });
    },

    /** The dry run: the whole file is validated and counted, nothing is written. */
    async onCheck(): Promise<void> {
      const outcome = await this.runJob(true);
      if (outcome.ok) this.setData({ step: 'preview', preview: summaryView(outcome.status) });
      else if (outcome.code === 'FORBIDDEN') await this.deny();
      else this.setData({ step: 'choose', error: outcome.message });
    },

    /** The real import. The function deleted the dry run's upload, so the same local file goes up again. */
    async onConfirm(): Promise<void> {
      const outcome = await this.runJob(false);
      if (outcome.ok) this.setData({ step: 'done', result: summaryView(outcome.status) });
      else if (outcome.code === 'FORBIDDEN') await this.deny();
      else this.setData({ step: 'preview', error: outcome.message });
    },

    async runJob(dryRun: boolean): Promise<JobOutcome> {
      const file = this.data.file;
      if (!file) return failure('INVALID_REQUEST', '请先选择文件');
      this.working('upload');
      const upload = await uploadRosterFile(file, (percent) => this.setData({ uploadPercent: percent }));
      if (!upload.ok) return upload;

      this.working(dryRun ? 'check' : 'import');
      const { mode, acceptConflicts } = this.data;
      const started = await importRoster({ fileID: upload.fileID, dryRun, mode, acceptConflicts });
      if (!started.ok) return started;

      const res = await driveRosterJob(started.jobId, (status) => this.setData({ processed: status.processed }));
      if (!res.ok) return res;
      if (res.state === 'failed') {
        const code = res.failure && isErrorCode(res.failure.code) ? res.failure.code : 'INTERNAL';
        return failure(code, res.failure?.message ?? '导入失败，请稍后重试');
      }
      return { ok: true, status: res };
    },
    working(phase: Phase): void {
      this.setData({
        step: 'working',
        phase,
        phaseText: PHASE_TEXT[phase],
        error: '',
        ...(phase === 'upload' ? { uploadPercent: 0, processed: 0 } : {}),
      });
    },

    async onReport(): Promise<void> {
      const summary = this.data.result ?? this.data.preview;
      if (!summary) return;
      this.setData({ reportLoading: true, error: '' });
      const res = await getRosterReport(summary.jobId);
      const opened = res.ok ? await openRemoteDocument(res.tempFileURL) : res;
      this.setData({ reportLoading: false, error: opened.ok ? '' : opened.message });
    },

    onRetryAccess(): Promise<void> {
      return this.checkAccess();
    },
  },
});
