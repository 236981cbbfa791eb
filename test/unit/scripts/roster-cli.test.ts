/** What `npm run roster` says of a job that failed after writing rows (scripts/roster.ts). */
import { writtenBeforeFailure } from '../../../scripts/roster';

describe('writtenBeforeFailure', () => {
  it('names the rows a job wrote before it ended, which stay', () => {
    expect(writtenBeforeFailure({ dryRun: false, inserted: 1000, updated: 24 })).toBe(
      '停止前已写入 1024 行（新增 1000，更新 24），这些行保留',
    );
  });

  it('says nothing when nothing was written (a dry run writes nothing whatever it counted)', () => {
    expect(writtenBeforeFailure({ dryRun: false, inserted: 0, updated: 0 })).toBeUndefined();
    expect(writtenBeforeFailure({ dryRun: true, inserted: 1000, updated: 24 })).toBeUndefined();
  });
});
