/** Building .xlsx files (error reports, templates, exports) with node-xlsx. */
import type * as NodeXlsx from 'node-xlsx';

type Build = typeof NodeXlsx.build;

/** node-xlsx loads SheetJS (~30 MB of RSS): only loaded when a file is built. */
export const buildWorkbook: Build = (...args) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const xlsx = require('node-xlsx') as typeof NodeXlsx;
  return xlsx.build(...args);
};
