// The tray icon: one render() turns the app's status into icon, tooltip and menu (built by tray-menu.ts), so every
// change of state goes through the same path. Electron's Tray and Menu come in through factories, which keeps this
// class free of Electron at run time.
import type { DesktopStatus } from '../protocol/ipc';
import { buildTrayView, type TrayCommand, type TrayIconState, type TrayMenuItem } from './tray-menu';

export type TrayTheme = 'light' | 'dark';

/** The part of Electron's Tray this service uses. */
export interface TrayHandle<Menu> {
  setImage(iconPath: string): void;
  setToolTip(text: string): void;
  setContextMenu(menu: Menu | null): void;
  destroy(): void;
}

export interface TrayServiceOptions<Menu> {
  createTray(iconPath: string): TrayHandle<Menu>;
  /** Menu.buildFromTemplate with each item's click wired to `onClick(item.id)`. */
  buildMenu(items: TrayMenuItem[], onClick: (command: TrayCommand) => void): Menu;
  iconPath(state: TrayIconState, theme: TrayTheme): string;
  /** The theme of the taskbar/menu bar the icon sits on. */
  theme(): TrayTheme;
  onCommand(command: TrayCommand): void;
}

export class TrayService<Menu> {
  private tray: TrayHandle<Menu> | null = null;
  private shown = '';

  constructor(private readonly options: TrayServiceOptions<Menu>) {}

  render(status: DesktopStatus): void {
    const view = buildTrayView(status);
    const icon = this.options.iconPath(view.icon, this.options.theme());
    // Status arrives every second; rebuild only when what the user sees changes, so an open menu is not replaced.
    const key = JSON.stringify([icon, view.tooltip, view.menu]);
    if (key === this.shown) return;
    this.shown = key;
    this.tray ??= this.options.createTray(icon);
    this.tray.setImage(icon);
    this.tray.setToolTip(view.tooltip);
    this.tray.setContextMenu(this.options.buildMenu(view.menu, (command) => this.options.onCommand(command)));
  }

  get exists(): boolean {
    return this.tray !== null;
  }

  destroy(): void {
    this.tray?.destroy();
    this.tray = null;
    this.shown = '';
  }
}
