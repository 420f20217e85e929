// A QR code as one SVG path, for the coordinator's join page and the web UI's invite dialog alike.
import QRCode from 'qrcode';

/** Light modules around the code, as the QR standard asks, so phones read it on any background. */
const QUIET_ZONE = 4;

export interface QrPath {
  /** The SVG viewBox: the code with its quiet zone, one unit per module. */
  viewBox: string;
  /** Every dark module as a unit square. */
  d: string;
}

export function qrPath(text: string): QrPath {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const squares: string[] = [];
  for (let y = 0; y < modules.size; y++) {
    for (let x = 0; x < modules.size; x++) if (modules.get(y, x)) squares.push(`M${x} ${y}h1v1h-1z`);
  }
  const side = modules.size + 2 * QUIET_ZONE;
  return { viewBox: `${-QUIET_ZONE} ${-QUIET_ZONE} ${side} ${side}`, d: squares.join('') };
}
