// The desktop app's bridge (`window.cmdx`, typed by protocol/ipc.ts). Absent in a browser: everything that
// needs it is feature-detected through `desktopBridge()` and hidden when it returns null.
import type { CmdxApi } from '../../protocol/ipc';

declare global {
  interface Window {
    cmdx?: CmdxApi;
  }
}

export function desktopBridge(): CmdxApi | null {
  return typeof window !== 'undefined' && window.cmdx ? window.cmdx : null;
}

/**
 * The API's base: the page's own origin. The coordinator serves the browser UI itself, and the desktop
 * window's `app://cmdx` origin is proxied to the configured coordinator by the main process (protocol/ipc.ts).
 */
export function pageOrigin(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol}//${location.host}`;
}
