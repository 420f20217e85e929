import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LocalAgentStatus } from '../protocol/ipc';
import { ContributionController, type ContributingAgent, type PcSample } from './contribution';
import { SettingsStore } from './settings';

let dir: string;
let store: SettingsStore;
let now: number;
const logs: string[] = [];
const logger = { info: (m: string) => logs.push(m), error: (m: string) => logs.push(`ERROR ${m}`) };

/** Records the agent calls in order (the controller is the unit under test; the real agent has its own tests). */
function recordingAgent(failOn?: string) {
  const calls: string[] = [];
  const agent: ContributingAgent = {
    suspend: async () => {
      calls.push('suspend');
      if (failOn === 'suspend') throw new Error('no such process');
    },
    resume: async () => void calls.push('resume'),
    vacate: async () => void calls.push('vacate'),
    setPaused: (paused) => void calls.push(paused ? 'paused' : 'unpaused'),
    status: (): LocalAgentStatus => ({ state: 'idle', workerId: 'w', name: 'pc', connected: true, jobs: [], sandbox: 'bubblewrap', problem: null }),
  };
  return { agent, calls };
}

const idle = (idleSec: number): PcSample => ({ idleSec, onBattery: false, screenLocked: false, othersCpuPercent: 0 });

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cmdx-contribution-'));
  store = (await SettingsStore.open(path.join(dir, 'settings.json'))).store;
  await store.update({ contributeWhenIdle: true });
  now = Date.parse('2025-03-03T09:00:00Z');
  logs.length = 0;
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Feeds one sample per second, letting the agent calls of each second finish as they would in a second. */
async function feed(controller: ContributionController, samples: PcSample[]) {
  for (const sample of samples) {
    controller.sample(sample);
    await controller.settled();
    now += 1000;
  }
}

describe('ContributionController', () => {
  it('keeps a new agent from taking work until the policy says run, then lets it', async () => {
    const controller = new ContributionController(store, logger, () => now);
    const { agent, calls } = recordingAgent();
    controller.attachAgent(agent);
    await controller.settled();
    expect(calls).toEqual(['paused', 'vacate']);
    await feed(controller, [idle(299), idle(300)]);
    await controller.settled();
    expect(calls.slice(2)).toEqual(['unpaused']);
    expect(controller.status()).toMatchObject({ enabled: true, action: 'run', reason: 'contributing while this PC is idle' });
    expect(logs).toContain('contribution: vacate -> run (contributing while this PC is idle)');
  });

  it('suspends on input, resumes after a minute, vacates after ten minutes suspended', async () => {
    const controller = new ContributionController(store, logger, () => now);
    const { agent, calls } = recordingAgent();
    controller.attachAgent(agent);
    await feed(controller, [idle(300), idle(0)]);
    await feed(controller, Array.from({ length: 61 }, (_, i) => idle(i)));
    await controller.settled();
    expect(calls.slice(2)).toEqual(['unpaused', 'paused', 'suspend', 'resume', 'unpaused']);
    await feed(controller, Array.from({ length: 601 }, () => idle(0)));
    await controller.settled();
    expect(calls.slice(7)).toEqual(['paused', 'suspend', 'paused', 'vacate']);
  });

  it('notifies listeners when the decision or its reason changes, not on every sample', async () => {
    const controller = new ContributionController(store, logger, () => now);
    let changes = 0;
    controller.onChange(() => changes++);
    await feed(controller, [idle(30), idle(30), idle(30)]); // reason text changes once (idle 30 s -> still "0 min")
    const quiet = changes;
    await feed(controller, [idle(300)]);
    expect(changes).toBe(quiet + 1);
  });

  it('"pause for 1 hour" hands work back at once, persists, and ends by itself', async () => {
    const controller = new ContributionController(store, logger, () => now);
    const { agent, calls } = recordingAgent();
    controller.attachAgent(agent);
    await feed(controller, [idle(300)]);
    await controller.pause(60);
    await controller.settled();
    expect(calls.slice(-2)).toEqual(['paused', 'vacate']);
    expect(controller.status()).toMatchObject({ action: 'stop', pausedUntil: '2025-03-03T10:00:01.000Z' });
    expect((await SettingsStore.open(store.file)).store.get().pausedUntil).toBe('2025-03-03T10:00:01.000Z');

    now += 60 * 60_000;
    await feed(controller, [idle(3600)]);
    await controller.settled();
    expect(controller.status().action).toBe('run');
    expect(calls.at(-1)).toBe('unpaused');
    await expect.poll(() => store.get().pausedUntil).toBeNull();
  });

  it('pause(0) resumes at once; switching off stops', async () => {
    const controller = new ContributionController(store, logger, () => now);
    await controller.pause(60);
    await controller.pause(0);
    expect(store.get().pausedUntil).toBeNull();
    await controller.setEnabled(false);
    expect(controller.status()).toMatchObject({ enabled: false, action: 'stop', reason: 'contributing is switched off' });
    expect(store.get().contributeWhenIdle).toBe(false);
  });

  it('logs an agent failure and keeps going', async () => {
    const controller = new ContributionController(store, logger, () => now);
    const { agent, calls } = recordingAgent('suspend');
    controller.attachAgent(agent);
    await feed(controller, [idle(300), idle(0), idle(60)]);
    await controller.settled();
    expect(logs).toContain('ERROR the agent could not suspend: no such process');
    expect(calls.at(-1)).toBe('unpaused');
  });

  it('works without an agent (nothing configured yet) and tells a later one the current decision', async () => {
    const controller = new ContributionController(store, logger, () => now);
    await feed(controller, [idle(300)]);
    const { agent, calls } = recordingAgent();
    controller.attachAgent(agent);
    await controller.settled();
    expect(calls).toEqual(['unpaused']);
  });

  it('never unpauses an agent when a run decision is overtaken by a suspend before it was carried out', async () => {
    const controller = new ContributionController(store, logger, () => now);
    const { agent, calls } = recordingAgent();
    controller.attachAgent(agent);
    // two decisions within one tick of the queue: run, then at once suspend
    controller.sample(idle(300));
    now += 1000;
    controller.sample(idle(0));
    await controller.settled();
    expect(calls).toEqual(['paused', 'paused', 'vacate', 'suspend']);
  });
});
