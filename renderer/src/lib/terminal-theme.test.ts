import { describe, expect, it } from 'vitest';
import { TERMINAL_BACKGROUND, TERMINAL_THEME } from './terminal-theme';

/** WCAG 2 relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const [r, g, b] = channels.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

const contrast = (a: string, b: string) => {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
};

describe('the terminal palette', () => {
  it('keeps every text colour readable on the terminal background (WCAG AA, 4.5:1)', () => {
    // Black is what programs paint backgrounds with, not text: it stays dark.
    const { background, cursor: _cursor, black: _black, ...colours } = TERMINAL_THEME;
    expect(background).toBe(TERMINAL_BACKGROUND);
    const unreadable = Object.entries(colours)
      .map(([name, colour]) => [name, Math.round(contrast(colour, background) * 10) / 10] as const)
      .filter(([, ratio]) => ratio < 4.5);
    expect(unreadable).toEqual([]);
    // xterm's defaults for these two were the complaint: 3.0:1 and 3.4:1.
    expect(contrast('#2472c8', background)).toBeLessThan(4.5);
    expect(contrast('#bc3fbc', background)).toBeLessThan(4.5);
  });
});
