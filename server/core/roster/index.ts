/**
 * Roster import core: pure parsing and validation (no wx-server-sdk, no network, no database).
 * The cloud function downloads the file, calls `openRoster`, writes each batch, and stores the report.
 */
export { openRoster, openRosterSource, parseRoster, DEFAULT_BATCH_SIZE } from './parse';
export type { RosterBatch, RosterImport, RosterOptions, RosterParseResult } from './parse';
export { ROSTER_FIELDS, type FieldSpec, type RosterColumn, type RosterField } from './columns';
export type { RosterRecord } from './validate';
export { buildErrorReport, buildTemplate } from './report';
export { RosterFileError, type RosterFileErrorCode, type FileFormat } from './types';
