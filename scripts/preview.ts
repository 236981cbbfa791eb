/**
 * `npm run preview`: a preview QR code with miniprogram-ci (ci.preview): npm build, official
 * compile, size budget, then the QR code to .tmp/preview-qrcode.png (--qrcode terminal prints it).
 * `-- --dry-run` stops before the network. Options as `npm run upload`, plus --page <path>.
 */
import { runScript, shipMiniprogram } from './lib/deploy';

export function main(args: string[]): Promise<number> {
  return runScript(() => shipMiniprogram('preview', args));
}
