// The window comes back where the user left it, unless that place is gone (a monitor unplugged, a resolution changed):
// then it opens centred at the default size rather than somewhere nobody can reach it.
import type { WindowBounds } from '../protocol/ipc';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const DEFAULT_WINDOW_SIZE = { width: 1100, height: 760 } as const;
/** How much of the window's top strip (where the title bar is) must be on a screen to count as reachable. */
const GRAB = { width: 120, height: 40 };

export interface InitialBounds {
  /** Absent: let the window manager centre it. */
  position: { x: number; y: number } | null;
  width: number;
  height: number;
  maximized: boolean;
}

const overlap = (a: Rect, b: Rect) => ({
  width: Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x),
  height: Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y),
});

export function initialBounds(saved: WindowBounds | null, workAreas: Rect[]): InitialBounds {
  if (saved) {
    const titleStrip = { x: saved.x, y: saved.y, width: saved.width, height: GRAB.height };
    const screen = workAreas.find((area) => {
      const o = overlap(titleStrip, area);
      return o.width >= GRAB.width && o.height >= GRAB.height;
    });
    if (screen) {
      return {
        position: { x: saved.x, y: saved.y },
        width: Math.min(saved.width, screen.width),
        height: Math.min(saved.height, screen.height),
        maximized: saved.maximized,
      };
    }
  }
  return { position: null, ...DEFAULT_WINDOW_SIZE, maximized: saved?.maximized ?? false };
}
