/**
 * The seed tutorial's import, kept only for `npm run bench:import` to compare against: fixed column
 * positions, no validation, one `add()` per row, all at once in a Promise.all. Never deployed.
 */
import cloud from 'wx-server-sdk';
import xlsx from 'node-xlsx';

cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV as unknown as string });
const db = cloud.database();

export const main = async (event: { fileID: string }) => {
  const res = await cloud.downloadFile({ fileID: event.fileID });
  const tasks: Promise<unknown>[] = [];
  for (const sheet of xlsx.parse(res.fileContent as Buffer)) {
    sheet.data.forEach((row, rowId) => {
      if (rowId > 0 && row) {
        tasks.push(
          db
            .collection('users')
            .add({ data: { name: row[0], idCard: row[1], phone: row[2], department: row[3] } }) as Promise<unknown>,
        );
      }
    });
  }
  return Promise.all(tasks)
    .then((r) => ({ added: r.length }))
    .catch((err: unknown) => ({
      error: String((err as Error)?.message ?? err).slice(0, 200),
      attempted: tasks.length,
    }));
};
