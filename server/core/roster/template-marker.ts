/**
 * The template's example row is marked by its ID number: GB 11643-1999's own worked example
 * (checksum-valid, nobody's number in a roster). A row with this ID is never imported, so an
 * untouched template imports nothing.
 */
import { makeIdCard } from '../../../miniprogram/shared/idcard';

export const TEMPLATE_EXAMPLE_ID = makeIdCard('110105', '19491231', '002');
