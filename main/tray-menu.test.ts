import { describe, expect, it } from 'vitest';
import type { DesktopStatus } from '../protocol/ipc';
import { settingsSchema } from '../protocol/ipc';
import { decideContribution, initialPolicyMemory, policySettingsFrom } from './idle-policy';
import { buildTrayView, type TrayMenuItem } from './tray-menu';

function status(overrides: {
  contribution?: Partial<DesktopStatus['contribution']>;
  agent?: Partial<DesktopStatus['agent']>;
  pool?: DesktopStatus['pool'];
  problem?: string | null;
}): DesktopStatus {
  return {
    contribution: {
      enabled: true,
      alwaysContribute: false,
      pausedUntil: null,
      action: 'vacate',
      reason: 'waiting for 5 min without input (idle 1 min)',
      ...overrides.contribution,
    },
    agent: { state: 'idle', workerId: 'wkr_1', name: 'pc-anna', connected: true, jobs: [], sandbox: 'bubblewrap', problem: null, ...overrides.agent },
    pool: overrides.pool ?? null,
    connection: { coordinatorUrls: ['http://pool:8787'], hosting: false, problem: overrides.problem ?? null },
    notice: null,
  };
}

/** The menu reduced to what a person sees: label, [x] for checked, (off) for disabled, and the click id. */
const show = (menu: TrayMenuItem[]) =>
  menu.map((item) =>
    item.type === 'separator'
      ? '---'
      : `${item.type === 'checkbox' ? (item.checked ? '[x] ' : '[ ] ') : ''}${item.label}${item.enabled ? '' : ' (off)'}${'id' in item && item.id ? ` -> ${item.id}` : ''}`,
  );

describe('buildTrayView', () => {
  it('idle and contributing: switch on, pause offered', () => {
    const view = buildTrayView(status({}));
    expect(view.icon).toBe('idle');
    expect(view.tooltip).toBe('cmd-executor: Idle: waiting for 5 min without input (idle 1 min)');
    expect(show(view.menu)).toEqual([
      'Idle: waiting for 5 min without input (idle 1 min) (off)',
      '---',
      '[x] Contribute when idle -> toggle-contribute',
      'Pause for 1 hour -> pause-hour',
      '---',
      'Open cmd-executor -> open',
      'Open logs -> open-logs',
      '---',
      'Quit -> quit',
    ]);
  });

  it('running a job: names the job and shows the running icon', () => {
    const view = buildTrayView(
      status({
        contribution: { action: 'run', reason: 'contributing while this PC is idle' },
        agent: { state: 'busy', jobs: [{ id: 'job_1', name: 'render frames', state: 'running', leaseId: 'lse_1' }] },
      }),
    );
    expect(view.icon).toBe('running');
    expect(view.menu[0]).toEqual({ type: 'normal', label: 'Running: render frames', enabled: false });
  });

  it('paused for an hour: paused icon, the time it ends, and Resume instead of Pause', () => {
    const pausedUntil = new Date(2025, 2, 3, 14, 5).toISOString();
    const view = buildTrayView(status({ contribution: { action: 'stop', pausedUntil, reason: 'paused until 14:05' } }));
    expect(view.icon).toBe('paused');
    expect(show(view.menu).slice(0, 4)).toEqual([
      'Paused until 14:05 (off)',
      '---',
      '[x] Contribute when idle -> toggle-contribute',
      'Resume contributing -> resume',
    ]);
  });

  it('suspended because the owner is back: paused icon with the reason', () => {
    const view = buildTrayView(
      status({
        contribution: { action: 'suspend', reason: 'suspended: you are using this PC' },
        agent: { state: 'suspended', jobs: [{ id: 'job_1', name: 'x', state: 'suspended', leaseId: 'l' }] },
      }),
    );
    expect(view.icon).toBe('paused');
    expect(view.menu[0]).toMatchObject({ label: 'Suspended: you are using this PC' });
  });

  it('switched off: unchecked, and nothing to pause', () => {
    const view = buildTrayView(status({ contribution: { enabled: false, action: 'stop', reason: 'contributing is switched off' } }));
    expect(view.icon).toBe('paused');
    expect(show(view.menu).slice(0, 4)).toEqual([
      'Contributing is switched off (off)',
      '---',
      '[ ] Contribute when idle -> toggle-contribute',
      'Pause for 1 hour (off) -> pause-hour',
    ]);
  });

  it('outside the contribution hours: the next window, as the policy words it', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    const settings = policySettingsFrom(settingsSchema.parse({ contributeWhenIdle: true, contributeHours: 'weekdays 18:00-08:00' }), 'Europe/Berlin');
    const idle = { idleSec: 3600, onBattery: false, screenLocked: false, othersCpuPercent: 0, now };
    const { action, reason } = decideContribution(idle, settings, initialPolicyMemory(now));
    const view = buildTrayView(status({ contribution: { action, reason } }));
    expect(view.icon).toBe('paused');
    expect(view.menu[0]).toMatchObject({ label: 'Contributes from 18:00 (outside the hours set in Settings)' });
  });

  it('disconnected wins over everything and says why', () => {
    const view = buildTrayView(
      status({ agent: { connected: false, state: 'disconnected' }, problem: 'cannot reach http://pool:8787' }),
    );
    expect(view.icon).toBe('disconnected');
    expect(view.menu[0]).toMatchObject({ label: 'Disconnected: cannot reach http://pool:8787' });
  });

  it('always-contribute: the idle switch is greyed out, pausing still works', () => {
    const view = buildTrayView(status({ contribution: { enabled: false, alwaysContribute: true, action: 'run' } }));
    expect(show(view.menu).slice(2, 4)).toEqual([
      '[ ] Contribute when idle (off) -> toggle-contribute',
      'Pause for 1 hour -> pause-hour',
    ]);
  });

  it('not sandboxed: says so, and that only trusted colleagues’ jobs run', () => {
    const view = buildTrayView(status({ agent: { sandbox: 'none' } }));
    expect(show(view.menu)[1]).toBe('Not sandboxed: runs only trusted colleagues’ jobs (off)');
    expect(show(buildTrayView(status({})).menu)).not.toContain('Not sandboxed: runs only trusted colleagues’ jobs (off)');
  });

  it("a worker with a problem says why it takes no jobs, and stops saying it once it is gone", () => {
    const problem = 'the disk holding /data/cmdx is full (12 MiB free, 256 MiB needed)';
    expect(show(buildTrayView(status({ agent: { problem } })).menu)[1]).toBe(`Takes no jobs: ${problem} (off)`);
    expect(show(buildTrayView(status({})).menu).join('\n')).not.toMatch(/Takes no jobs/);
  });

  it('hosting the pool: shows where colleagues join', () => {
    const view = buildTrayView(
      status({ pool: { urls: ['http://192.168.1.20:8787'], joinToken: 'j', submitToken: 's' } }),
    );
    expect(view.menu[1]).toEqual({ type: 'normal', label: 'Hosting the pool at http://192.168.1.20:8787', enabled: false });
  });
});
