import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW_SIZE, initialBounds } from './window-bounds';

const laptop = { x: 0, y: 0, width: 1440, height: 860 };
const monitorOnTheRight = { x: 1440, y: 0, width: 1920, height: 1040 };

describe('initialBounds', () => {
  it('opens centred at the default size the first time', () => {
    expect(initialBounds(null, [laptop])).toEqual({ position: null, ...DEFAULT_WINDOW_SIZE, maximized: false });
  });

  it('restores the saved place and size when it is on a screen', () => {
    const saved = { x: 1600, y: 100, width: 1200, height: 800, maximized: false };
    expect(initialBounds(saved, [laptop, monitorOnTheRight])).toEqual({
      position: { x: 1600, y: 100 },
      width: 1200,
      height: 800,
      maximized: false,
    });
  });

  it('falls back to centred when the monitor it was on is gone, keeping "maximized"', () => {
    const saved = { x: 1600, y: 100, width: 1200, height: 800, maximized: true };
    expect(initialBounds(saved, [laptop])).toEqual({ position: null, ...DEFAULT_WINDOW_SIZE, maximized: true });
  });

  it('needs the title bar reachable, not just a corner', () => {
    const almostOff = { x: 1400, y: 200, width: 900, height: 600, maximized: false };
    expect(initialBounds(almostOff, [laptop]).position).toBeNull();
    const titleAboveScreen = { x: 100, y: -500, width: 900, height: 600, maximized: false };
    expect(initialBounds(titleAboveScreen, [laptop]).position).toBeNull();
  });

  it('shrinks a window larger than its screen', () => {
    const saved = { x: 0, y: 0, width: 3000, height: 2000, maximized: false };
    expect(initialBounds(saved, [laptop])).toMatchObject({ width: 1440, height: 860 });
  });
});
