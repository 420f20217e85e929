import { describe, expect, it } from 'vitest';
import { IpcRouter, IpcUserError, isAppUrl, push, type IpcMainHandle } from './ipc';

/** ipcMain reduced to a table of listeners, and events reduced to their sender frame: the wrapper is the unit under test. */
function setup() {
  const listeners = new Map<string, Parameters<IpcMainHandle['handle']>[1]>();
  const ipcMain: IpcMainHandle = {
    handle: (channel, listener) => void listeners.set(channel, listener),
    removeHandler: (channel) => void listeners.delete(channel),
  };
  const logs: string[] = [];
  const router = new IpcRouter(ipcMain, { warn: (m) => logs.push(`warn ${m}`), error: (m) => logs.push(`error ${m}`) });
  const call = (channel: string, url: string | null, ...args: unknown[]) =>
    listeners.get(channel)!({ senderFrame: url === null ? null : { url } }, ...args);
  return { router, listeners, logs, call };
}

const APP = 'app://cmdx/index.html#/submit';

describe('isAppUrl', () => {
  it('accepts only the app origin', () => {
    expect(isAppUrl('app://cmdx/index.html')).toBe(true);
    expect(isAppUrl('app://cmdx/')).toBe(true);
    for (const url of ['app://evil/index.html', 'file:///app/index.html', 'https://cmdx/', 'http://127.0.0.1:8787/', 'about:blank', 'not a url', '']) {
      expect(isAppUrl(url), url).toBe(false);
    }
  });
});

describe('IpcRouter.handle', () => {
  it('passes a valid argument to the handler and wraps its result', async () => {
    const { router, call } = setup();
    router.handle('contribution:pause', ({ minutes }) => ({ minutes }) as never);
    expect(await call('contribution:pause', APP, { minutes: 60 })).toEqual({ error: null, result: { minutes: 60 } });
  });

  it('refuses other senders without running the handler, and logs it', async () => {
    const { router, call, logs } = setup();
    let ran = false;
    router.handle('logs:open', () => {
      ran = true;
    });
    for (const url of ['https://attacker.example/', 'file:///tmp/x.html', null]) {
      expect(await call('logs:open', url, {})).toEqual({
        error: { code: 'forbidden', message: "logs:open is only available to the app's own window" },
        result: null,
      });
    }
    expect(ran).toBe(false);
    expect(logs[0]).toBe('warn ipc logs:open: refused a call from https://attacker.example/');
    expect(logs[2]).toBe('warn ipc logs:open: refused a call from (no frame)');
  });

  it('validates arguments with the channel schema and names the bad field', async () => {
    const { router, call } = setup();
    router.handle('contribution:pause', () => undefined as never);
    expect(await call('contribution:pause', APP, { minutes: -5 })).toMatchObject({
      error: { code: 'invalid_argument', message: expect.stringMatching(/^contribution:pause: minutes: /) },
    });
    expect(await call('contribution:pause', APP, { minutes: 5, extra: true })).toMatchObject({
      error: { code: 'invalid_argument' },
    });
    expect(await call('contribution:pause', APP)).toEqual({
      error: { code: 'invalid_argument', message: 'contribution:pause: expected one argument, got 0' },
      result: null,
    });
  });

  it('validates settings patches: only editable fields, valid values', async () => {
    const { router, call } = setup();
    router.handle('settings:set', (patch) => patch as never);
    expect(await call('settings:set', APP, { idleMinutes: 10 })).toEqual({ error: null, result: { idleMinutes: 10 } });
    expect(await call('settings:set', APP, { pausedUntil: null })).toMatchObject({ error: { code: 'invalid_argument' } });
    expect(await call('settings:set', APP, { coordinatorUrls: ['https://pool-a:8443', 'javascript:alert(1)'] })).toMatchObject({
      error: { code: 'invalid_argument', message: expect.stringContaining('coordinatorUrls.1: must be an http:// or https://') },
    });
  });

  it('turns a user error into its code and message, and a crash into a logged failure', async () => {
    const { router, call, logs } = setup();
    router.handle('dialog:pick-file', () => {
      throw new IpcUserError('too_big', 'that file is larger than 512 MiB');
    });
    router.handle('logs:open', () => {
      throw new TypeError('boom');
    });
    expect(await call('dialog:pick-file', APP, {})).toEqual({
      error: { code: 'too_big', message: 'that file is larger than 512 MiB' },
      result: null,
    });
    expect(await call('logs:open', APP, {})).toEqual({ error: { code: 'failed', message: 'boom' }, result: null });
    expect(logs.at(-1)).toMatch(/^error ipc logs:open failed: TypeError: boom/);
  });

  it('awaits async handlers', async () => {
    const { router, call } = setup();
    router.handle('jobs:watch', async ({ jobId }) => {
      await Promise.resolve();
      if (jobId !== 'job_1') throw new Error('unknown');
    });
    expect(await call('jobs:watch', APP, { jobId: 'job_1' })).toEqual({ error: null, result: undefined });
    expect(await call('jobs:watch', APP, { jobId: '../etc' })).toMatchObject({ error: { code: 'invalid_argument' } });
  });

  it('dispose removes every handler it registered', () => {
    const { router, listeners } = setup();
    router.handle('logs:open', () => undefined);
    router.handle('status:get', () => undefined as never);
    router.dispose();
    expect(listeners.size).toBe(0);
  });
});

describe('push', () => {
  it('sends the payload on the named channel', () => {
    const sent: unknown[] = [];
    push({ send: (channel, payload) => sent.push([channel, payload]) }, 'job:open', { jobId: 'job_1' });
    expect(sent).toEqual([['job:open', { jobId: 'job_1' }]]);
  });
});
