import { qrPath } from '../../../protocol/qr';

/** A QR code of `text` (an invite link), drawn as one SVG path like the coordinator's join page draws it. */
export function QrCode({ text, label }: { text: string; label: string }) {
  const { viewBox, d } = qrPath(text);
  return (
    <svg className="qr" xmlns="http://www.w3.org/2000/svg" viewBox={viewBox} shapeRendering="crispEdges" role="img" aria-label={label}>
      <rect x="-4" y="-4" width="100%" height="100%" fill="#fff" />
      <path fill="#000" d={d} />
    </svg>
  );
}
