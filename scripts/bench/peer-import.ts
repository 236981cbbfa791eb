/**
 * The straightforward import a competent developer writes with the design card's library, kept
 * only for `npm run bench:import` to compare against: node-xlsx parses the whole file, rows are
 * mapped by position and inserted as arrays of 1000, one request after another (within the quota),
 * no validation, no upsert (a re-import duplicates everyone). Never deployed.
 */
import cloud from 'wx-server-sdk';
import xlsx from 'node-xlsx';

cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV as unknown as string });
const db = cloud.database();

export const main = async (event: { fileID: string }) => {
  const res = await cloud.downloadFile({ fileID: event.fileID });
  const docs: object[] = [];
  for (const sheet of xlsx.parse(res.fileContent as Buffer)) {
    sheet.data.forEach((row, rowId) => {
      if (rowId > 0 && row && row.length > 0) {
        docs.push({ name: row[0], idCard: String(row[1]), phone: String(row[2]), department: row[3] });
      }
    });
  }
  let added = 0;
  try {
    for (let at = 0; at < docs.length; at += 1000) {
      await db.collection('peer_users').add({ data: docs.slice(at, at + 1000) } as never);
      added += Math.min(1000, docs.length - at);
    }
    return { added };
  } catch (err) {
    return { error: String((err as Error)?.message ?? err).slice(0, 200), added };
  }
};
