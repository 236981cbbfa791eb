/** What a user does on a rendered page (typing, ticking, tapping), and waiting for a page's step. */
import { type Rendered, simulate, waitFor } from './simulate';

/** Events are delivered asynchronously (a microtask, as on a device). */
export const settle = (): Promise<void> => simulate.sleep(0);

/** Types into a van-field: its inner `<input>` (or `<textarea>`) fires `input`, then `blur`. */
export async function type(page: Rendered, fieldSelector: string, value: string): Promise<void> {
  const controls = page.querySelector(fieldSelector)?.querySelectorAll('.van-field__control') ?? [];
  const input = controls.find((node) => node.dom?.tagName === 'WX-INPUT' || node.dom?.tagName === 'WX-TEXTAREA');
  if (!input) throw new Error(`no input in ${fieldSelector}`);
  input.dispatchEvent('input', { detail: { value } });
  input.dispatchEvent('blur', { detail: { value } });
  await settle();
}

/** The native `<checkbox-group id="consent">` reports the ticked values. */
export async function tickConsent(page: Rendered): Promise<void> {
  page.querySelector('#consent')!.dispatchEvent('change', { detail: { value: ['agree'] } });
  await settle();
}

/** Taps a `<van-cell id=...>`. */
export function tapCell(page: Rendered, selector: string): void {
  const cell = page.querySelector(selector)?.querySelector('.van-cell');
  if (!cell) throw new Error(`tapCell: no ${selector}`);
  cell.dispatchEvent('tap');
}

/** Waits for the page to reach `step`; on timeout, says where it stopped. */
export async function reach(page: Rendered, step: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => page.data.step === step, timeoutMs).catch(() => {
    throw new Error(`expected step ${step}, page data: ${JSON.stringify(page.data)}`);
  });
}

export const html = (page: Rendered): string => page.dom!.innerHTML;

/** Shows the page again (back from another page or mini-program). */
export function showAgain(page: Rendered): void {
  // j-component has it; miniprogram-simulate's typings do not list it.
  (page as unknown as { triggerPageLifeTime(name: 'show'): void }).triggerPageLifeTime('show');
}
