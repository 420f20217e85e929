// The tray as data: icon state, tooltip and menu template built from the app's status by plain functions, so the
// tray's behaviour is tested without Electron; main/tray.ts turns this into a real Tray and Menu.
import type { DesktopStatus } from '../protocol/ipc';

export type TrayIconState = 'idle' | 'running' | 'paused' | 'disconnected';
export type TrayCommand = 'toggle-contribute' | 'pause-hour' | 'resume' | 'open' | 'open-logs' | 'quit';

export type TrayMenuItem =
  | { type: 'separator' }
  | { type: 'normal'; label: string; enabled: boolean; id?: TrayCommand }
  | { type: 'checkbox'; label: string; enabled: boolean; checked: boolean; id: TrayCommand };

export interface TrayView {
  icon: TrayIconState;
  tooltip: string;
  menu: TrayMenuItem[];
}

const separator: TrayMenuItem = { type: 'separator' };
const clock = (iso: string): string => new Date(iso).toTimeString().slice(0, 5);

function iconState(status: DesktopStatus): TrayIconState {
  if (!status.agent.connected) return 'disconnected';
  if (status.contribution.action === 'stop' || status.contribution.action === 'suspend') return 'paused';
  return status.agent.jobs.some((job) => job.state === 'running' || job.state === 'preparing') ? 'running' : 'idle';
}

function headline(status: DesktopStatus, icon: TrayIconState): string {
  const job = status.agent.jobs[0];
  switch (icon) {
    case 'disconnected':
      return `Disconnected: ${status.connection.problem ?? 'not connected to the pool'}`;
    case 'running':
      return `Running: ${job?.name || job?.id || 'a job'}`;
    case 'paused':
      return status.contribution.pausedUntil && status.contribution.action === 'stop'
        ? `Paused until ${clock(status.contribution.pausedUntil)}`
        : capitalise(status.contribution.reason);
    case 'idle':
      return `Idle: ${status.contribution.reason}`;
  }
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

export function buildTrayView(status: DesktopStatus): TrayView {
  const icon = iconState(status);
  const line = headline(status, icon);
  const contributing = status.contribution.enabled || status.contribution.alwaysContribute;
  const menu: TrayMenuItem[] = [{ type: 'normal', label: line, enabled: false }];
  if (status.pool) {
    menu.push({ type: 'normal', label: `Hosting the pool at ${status.pool.urls[0] ?? 'this PC'}`, enabled: false });
  }
  if (status.agent.problem) {
    menu.push({ type: 'normal', label: `Takes no jobs: ${status.agent.problem}`, enabled: false });
  }
  if (status.agent.sandbox === 'none') {
    menu.push({ type: 'normal', label: 'Not sandboxed: runs only trusted colleagues’ jobs', enabled: false });
  }
  menu.push(
    separator,
    {
      type: 'checkbox',
      id: 'toggle-contribute',
      label: 'Contribute when idle',
      checked: status.contribution.enabled,
      enabled: !status.contribution.alwaysContribute,
    },
    status.contribution.pausedUntil
      ? { type: 'normal', id: 'resume', label: 'Resume contributing', enabled: true }
      : { type: 'normal', id: 'pause-hour', label: 'Pause for 1 hour', enabled: contributing },
    separator,
    { type: 'normal', id: 'open', label: 'Open cmd-executor', enabled: true },
    { type: 'normal', id: 'open-logs', label: 'Open logs', enabled: true },
    separator,
    { type: 'normal', id: 'quit', label: 'Quit', enabled: true },
  );
  return { icon, tooltip: `cmd-executor: ${line}`, menu };
}
