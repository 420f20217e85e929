// Failover (the `postgres` vitest project): a worker and a person's submit CLI given every node of a pool in
// `--server A,B` carry on through B when A is killed -9 mid-job: the same lease, the output whole, the job once.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Job } from '../../protocol/api';
import { ApiClient, ApiError } from '../../protocol/client';
import { createAppProtocolHandler } from '../../main/app-protocol';
import { DesktopRuntime } from '../../main/runtime';
import { SettingsStore } from '../../main/settings';
import { waitForJob, workspaceOfRunningJob } from '../../main/agent/test-support';
import { makeTempDir, quietLogger, testStore } from '../pool';
import { createDatabase } from '../postgres';
import { waitFor } from '../wait';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const COORDINATOR = join(repo, 'coordinator', 'index.js');
const bin = (name: 'worker' | 'submit') => join(repo, 'bin', `${name}.js`);
const ADMIN_TOKEN = 'cmdx_admin_failover00000000000000000000000';
const JOIN_TOKEN = 'cmdx_join_failover000000000000000000000000';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface Launched {
  child: ChildProcess;
  /** stdout and stderr as they came */
  output(): string;
  stdout(): string;
  exited: Promise<number | null>;
}

/** A real process of ours (a coordinator node, the worker, the submit CLI), stopped after the test if still running. */
function launch(args: string[], env: Record<string, string> = {}): Launched {
  const child = spawn(process.execPath, args, { cwd: repo, env: { PATH: process.env.PATH!, HOME: os.homedir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, output: () => out, stdout: () => stdout, exited };
}

/** The real `node coordinator` process, as an operator starts each node (the tokens in `dir`, blobs shared). */
async function startCoordinatorNode(dir: string, database: string, name: string): Promise<Launched & { url: string }> {
  const node = launch([
    COORDINATOR, '--port', '0', '--data-dir', join(dir, name), '--database', database, '--blob-dir', join(dir, 'blobs'),
    '--admin-token-file', join(dir, 'admin.token'), '--join-token-file', join(dir, 'join.token'),
  ]);
  const [, url] = await waitFor(() => /serving (http:\/\/\S+)/.exec(node.output()) ?? undefined, { timeoutMs: 30_000, message: `${name} to serve` });
  return { ...node, url: url! };
}

describe.runIf(testStore === 'postgres')('a worker and the submit CLI given every node in --server', () => {
  it('carry on through node B when node A is killed -9 mid-job: one attempt, its output whole, the CLI exits 0', { timeout: 120_000 }, async () => {
    const database = await createDatabase(inject('postgresUrl'));
    const dir = await makeTempDir('cmdx-failover-');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'admin.token'), ADMIN_TOKEN);
    await writeFile(join(dir, 'join.token'), JOIN_TOKEN);
    const startNode = (name: string) => startCoordinatorNode(dir, database, name);
    const [a, b] = [await startNode('node-a'), await startNode('node-b')];
    const servers = `${a.url},${b.url}`;
    const admin = new ApiClient({ baseUrl: b.url, token: ADMIN_TOKEN });

    const workDir = join(dir, 'worker');
    const worker = launch([bin('worker'), '--server', servers, '--name', 'mover', '--work-dir', workDir], { CMDX_JOIN_TOKEN_FILE: join(dir, 'join.token') });
    await waitFor(async () => (await admin.listWorkers()).some((w) => w.name === 'mover' && w.state !== 'offline'), { message: 'the worker to join' });

    // Output before the kill, then more once the test opens the gate (a file in the job's workspace) after it.
    const submit = launch([bin('submit'), '--server', servers, '--name', 'long', 'echo before; while [ ! -e gate ]; do sleep 0.05; done; seq 1 2000; echo after'], {
      CMDX_TOKEN: ADMIN_TOKEN,
    });
    await waitFor(() => submit.output().includes('before\n') || undefined, { timeoutMs: 30_000, message: 'the first output in the submit CLI' });
    const workspace = await workspaceOfRunningJob(workDir);
    const [job] = (await admin.listJobs({ state: ['running'] })).jobs;

    a.child.kill('SIGKILL');
    await a.exited;
    await writeFile(join(workspace, 'gate'), '');

    expect(await submit.exited, submit.output()).toBe(0);
    const expected = `before\n${Array.from({ length: 2000 }, (_, i) => `${i + 1}\n`).join('')}after\n`;
    expect(submit.stdout()).toBe(expected);
    expect(submit.output()).toMatch(/lost the connection to .*; reconnecting/);
    const ended = await waitForJob(admin, job!.id);
    expect(ended).toMatchObject({ state: 'succeeded', attempt: 1, workerName: 'mover' });
    expect(await admin.getLog(job!.id)).toBe(expected);

    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
  });
});

describe.runIf(testStore === 'postgres')('the desktop app given every node in its settings', () => {
  it('carries on through node B when node A is killed -9: its agent keeps the lease, the window follows the whole output, submits go on', { timeout: 120_000 }, async () => {
    const database = await createDatabase(inject('postgresUrl'));
    const dir = await makeTempDir('cmdx-desktop-failover-');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'admin.token'), ADMIN_TOKEN);
    await writeFile(join(dir, 'join.token'), JOIN_TOKEN);
    const [a, b] = [await startCoordinatorNode(dir, database, 'node-a'), await startCoordinatorNode(dir, database, 'node-b')];

    // The app as main/index.ts wires it: settings → runtime (its agent, its job watcher) → the app:// proxy.
    const dataDir = join(dir, 'desktop');
    const { store } = await SettingsStore.open(join(dataDir, 'settings.json'));
    await store.update({ coordinatorUrls: [a.url, b.url], token: ADMIN_TOKEN, joinToken: JOIN_TOKEN, workerName: 'desk', alwaysContribute: true });
    const finished: Job[] = [];
    const quietAgent = { debug() {}, info() {}, warn() {}, error() {} };
    const runtime = new DesktopRuntime({
      settings: store,
      dataDir,
      hostAddress: '127.0.0.1',
      staticDir: null,
      loggers: { main: quietLogger, coordinator: quietLogger, agent: quietAgent },
      notify: (job) => finished.push(job),
      agentOptions: { killGraceMs: 1000, claimWaitMs: 2000 },
    });
    cleanup.push(() => runtime.stop());
    await runtime.start();
    runtime.sample({ idleSec: 0, onBattery: false, screenLocked: false, othersCpuPercent: 0 });
    expect(runtime.status().connection.coordinatorUrls).toEqual([a.url, b.url]);
    const proxy = createAppProtocolHandler({ rendererDir: dataDir, upstream: () => runtime.upstream() });
    /** The window's API client: base app://cmdx, every call through the proxy, as the renderer makes them. */
    const window = new ApiClient({ baseUrl: 'app://cmdx', fetch: (input, init) => proxy(new Request(input as string, init)) });
    await waitFor(() => runtime.status().agent.connected || undefined, { timeoutMs: 30_000, message: 'the app’s agent to join' });

    const job = await window.submitJob({ name: 'long', commands: ['echo before; while [ ! -e gate ]; do sleep 0.05; done; seq 1 2000; echo after'] });
    runtime.watchJob(job.id);
    // The window's terminal: follows the events, reconnecting after the last one seen (as renderer/src/store/job-view.ts).
    let stdout = '';
    let reconnects = 0;
    const followed = (async () => {
      let lastId = 0;
      for (;;) {
        try {
          for await (const event of window.events(job.id, { afterId: lastId })) {
            lastId = event.id;
            if (event.type === 'output' && event.data.stream === 'stdout') stdout += event.data.text;
          }
          return;
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 0) throw err;
          reconnects++;
        }
      }
    })();
    await waitFor(() => stdout.includes('before\n') || undefined, { timeoutMs: 30_000, message: 'the first output in the window' });
    const workspace = await workspaceOfRunningJob(join(dataDir, 'agent'));

    a.child.kill('SIGKILL');
    await a.exited;
    await writeFile(join(workspace, 'gate'), '');

    await followed;
    const expected = `before\n${Array.from({ length: 2000 }, (_, i) => `${i + 1}\n`).join('')}after\n`;
    expect(stdout).toBe(expected);
    await waitFor(() => finished.length === 1 || undefined, { timeoutMs: 30_000, message: 'the finished notification' });
    expect(finished[0]).toMatchObject({ id: job.id, state: 'succeeded', attempt: 1, workerName: 'desk' });
    expect(await window.getLog(job.id)).toBe(expected);

    // With A gone, the window's next submit (a body the proxy can resend) runs too, on this PC through B.
    const next = await window.submitJob({ name: 'after the failover', commands: ['echo still here'] });
    runtime.watchJob(next.id);
    await waitFor(() => finished.length === 2 || undefined, { timeoutMs: 30_000, message: 'the second job to end' });
    expect(finished[1]).toMatchObject({ id: next.id, state: 'succeeded', attempt: 1 });
    expect(await window.getLog(next.id)).toBe('still here\n');
    expect(runtime.status().agent).toMatchObject({ connected: true, problem: null });
    expect(reconnects).toBeGreaterThanOrEqual(1);
  });
});
