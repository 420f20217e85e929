import { describe, expect, it } from 'vitest';
import type { DesktopStatus } from '../protocol/ipc';
import { TrayService, type TrayHandle } from './tray';
import type { TrayCommand, TrayMenuItem } from './tray-menu';

const base: DesktopStatus = {
  contribution: { enabled: true, alwaysContribute: false, pausedUntil: null, action: 'vacate', reason: 'waiting' },
  agent: { state: 'idle', workerId: 'w', name: 'pc', connected: true, jobs: [], sandbox: 'bubblewrap', problem: null },
  pool: null,
  connection: { coordinatorUrls: ['http://pool:8787'], hosting: false, problem: null },
  notice: null,
};

/** Stands in for Electron's Tray and Menu: records what the service shows (the service is the unit under test). */
function harness(theme: 'light' | 'dark' = 'light') {
  const calls: string[] = [];
  const commands: TrayCommand[] = [];
  let menuClick: ((command: TrayCommand) => void) | null = null;
  const handle: TrayHandle<TrayMenuItem[]> = {
    setImage: (icon) => calls.push(`image ${icon}`),
    setToolTip: (text) => calls.push(`tooltip ${text}`),
    setContextMenu: (menu) => calls.push(`menu ${menu?.length} items`),
    destroy: () => calls.push('destroy'),
  };
  const service = new TrayService<TrayMenuItem[]>({
    createTray: (icon) => {
      calls.push(`create ${icon}`);
      return handle;
    },
    buildMenu: (items, onClick) => {
      menuClick = onClick;
      return items;
    },
    iconPath: (state, t) => `tray-${state}-${t}.png`,
    theme: () => theme,
    onCommand: (command) => commands.push(command),
  });
  return { service, calls, commands, click: (command: TrayCommand) => menuClick!(command) };
}

describe('TrayService', () => {
  it('creates the tray on the first render and shows icon, tooltip and menu', () => {
    const { service, calls } = harness('dark');
    expect(service.exists).toBe(false);
    service.render(base);
    expect(service.exists).toBe(true);
    expect(calls).toEqual([
      'create tray-idle-dark.png',
      'image tray-idle-dark.png',
      'tooltip cmd-executor: Idle: waiting',
      'menu 9 items',
    ]);
  });

  it('does not rebuild when nothing visible changed, and does when the state does', () => {
    const { service, calls } = harness();
    service.render(base);
    service.render({ ...base });
    expect(calls.filter((c) => c.startsWith('menu'))).toHaveLength(1);
    service.render({ ...base, agent: { ...base.agent, connected: false } });
    expect(calls.slice(-3)).toEqual([
      'image tray-disconnected-light.png',
      'tooltip cmd-executor: Disconnected: not connected to the pool',
      'menu 9 items',
    ]);
  });

  it('routes menu clicks to onCommand', () => {
    const { service, commands, click } = harness();
    service.render(base);
    click('pause-hour');
    click('quit');
    expect(commands).toEqual(['pause-hour', 'quit']);
  });

  it('destroys the tray, and a later render makes a new one', () => {
    const { service, calls } = harness();
    service.render(base);
    service.destroy();
    expect(service.exists).toBe(false);
    service.render(base);
    expect(calls.filter((c) => c.startsWith('create') || c === 'destroy')).toEqual([
      'create tray-idle-light.png',
      'destroy',
      'create tray-idle-light.png',
    ]);
  });
});
