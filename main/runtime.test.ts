// The desktop app's behaviour without Electron: hosting the pool, the embedded agent driven by the idle policy,
// notifications of finished jobs. Real coordinator, real agent, real child processes.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../protocol/api';
import { ApiClient } from '../protocol/client';
import { makeTempDir, quietLogger } from '../test/pool';
import { waitFor } from '../test/wait';
import type { PcSample } from './contribution';
import { DesktopRuntime } from './runtime';
import { SettingsStore } from './settings';

let dataDir: string;
let runtime: DesktopRuntime | null = null;
const finished: Job[] = [];
const silent = { debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) };

const idle = (idleSec: number): PcSample => ({ idleSec, onBattery: false, screenLocked: false, othersCpuPercent: 0 });

async function startRuntime(settingsPatch: Parameters<SettingsStore['update']>[0]) {
  const { store } = await SettingsStore.open(path.join(dataDir, 'settings.json'));
  await store.update(settingsPatch);
  runtime = new DesktopRuntime({
    settings: store,
    dataDir,
    hostAddress: '127.0.0.1',
    staticDir: null,
    loggers: { main: quietLogger, coordinator: quietLogger, agent: silent },
    notify: (job) => finished.push(job),
    agentOptions: { killGraceMs: 1000, claimWaitMs: 2000 },
  });
  await runtime.start();
  return { runtime, store };
}

beforeEach(async () => {
  dataDir = await makeTempDir('cmdx-runtime-');
  finished.length = 0;
});
afterEach(async () => {
  await runtime?.stop();
  runtime = null;
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('DesktopRuntime', () => {
  it('says what is missing when no pool is configured, and connects once one is', async () => {
    const { runtime, store } = await startRuntime({});
    expect(runtime.status().connection.problem).toMatch(/^No pool is set up yet/);
    expect(runtime.status().agent).toMatchObject({ state: 'stopped', connected: false });
    expect(runtime.upstream()).toBeNull();

    await store.update({ hostPool: true, hostPort: 0 });
    await waitFor(() => runtime.status().agent.connected, { message: 'the agent to join the hosted pool' });
    const status = runtime.status();
    expect(status.connection).toMatchObject({ hosting: true, problem: null });
    expect(status.pool?.joinToken).toMatch(/^cmdx_join_/);
    expect(runtime.upstream()?.baseUrl).toBe(status.pool?.urls[0]);
  });

  it('hosts the pool, runs a job on this PC while idle, and notifies when it ends', async () => {
    const { runtime } = await startRuntime({ hostPool: true, hostPort: 0, contributeWhenIdle: true });
    await waitFor(() => runtime.status().agent.connected, { message: 'the agent to connect' });
    runtime.sample(idle(300));
    const upstream = runtime.upstream()!;
    const me = new ApiClient({ baseUrl: upstream.baseUrl, token: upstream.token });
    const job = await me.submitJob({ commands: ['echo hello from this PC'], name: 'hello' });
    runtime.watchJob(job.id);
    await waitFor(() => finished.length === 1, { timeoutMs: 30_000, message: 'the finished notification' });
    expect(finished[0]).toMatchObject({ id: job.id, state: 'succeeded', workerName: runtime.status().agent.name });
    expect(await me.getLog(job.id)).toContain('hello from this PC');
  });

  it('suspends the job when the owner returns, resumes it after a minute idle, hands it back on pause', async () => {
    const { runtime } = await startRuntime({ hostPool: true, hostPort: 0, contributeWhenIdle: true });
    await waitFor(() => runtime.status().agent.connected, { message: 'the agent to connect' });
    const upstream = runtime.upstream()!;
    const me = new ApiClient({ baseUrl: upstream.baseUrl, token: upstream.token });
    const job = await me.submitJob({
      commands: ['i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.05; done'],
      name: 'long',
    });
    // the owner is at the keyboard: nothing is taken
    runtime.sample(idle(10));
    expect((await me.getJob(job.id)).state).toBe('queued');

    runtime.sample(idle(300));
    await waitFor(async () => (await me.getJob(job.id)).state === 'running', { timeoutMs: 20_000, message: 'running' });
    expect(runtime.runningJobs()).toBe(1);

    runtime.sample(idle(0));
    await waitFor(async () => (await me.getJob(job.id)).state === 'suspended', { timeoutMs: 20_000, message: 'suspended' });
    expect(runtime.status().contribution).toMatchObject({ action: 'suspend', reason: 'suspended: you are using this PC' });
    expect(runtime.runningJobs()).toBe(0);

    runtime.sample(idle(60));
    await waitFor(async () => (await me.getJob(job.id)).state === 'running', { timeoutMs: 20_000, message: 'running again' });

    await runtime.contribution.pause(60);
    await waitFor(async () => (await me.getJob(job.id)).state === 'queued', { timeoutMs: 20_000, message: 'handed back' });
    expect(runtime.status().contribution.action).toBe('stop');
    await waitFor(() => runtime.status().agent.jobs.length === 0, { message: 'the agent to let go' });
    await me.cancelJob(job.id);
  });
});
