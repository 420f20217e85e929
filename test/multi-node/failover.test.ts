// Failover (the `postgres` vitest project): a worker and a person's submit CLI given every node of a pool in
// `--server A,B` carry on through B when A is killed -9 mid-job: the same lease, the output whole, the job once.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { waitForJob, workspaceOfRunningJob } from '../../main/agent/test-support';
import { makeTempDir, testStore } from '../pool';
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

describe.runIf(testStore === 'postgres')('a worker and the submit CLI given every node in --server', () => {
  it('carry on through node B when node A is killed -9 mid-job: one attempt, its output whole, the CLI exits 0', { timeout: 120_000 }, async () => {
    const database = await createDatabase(inject('postgresUrl'));
    const dir = await makeTempDir('cmdx-failover-');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'admin.token'), ADMIN_TOKEN);
    await writeFile(join(dir, 'join.token'), JOIN_TOKEN);
    /** The real `node coordinator` process, as an operator starts each node. */
    const startNode = async (name: string) => {
      const node = launch([
        COORDINATOR, '--port', '0', '--data-dir', join(dir, name), '--database', database, '--blob-dir', join(dir, 'blobs'),
        '--admin-token-file', join(dir, 'admin.token'), '--join-token-file', join(dir, 'join.token'),
      ]);
      const [, url] = await waitFor(() => /serving (http:\/\/\S+)/.exec(node.output()) ?? undefined, { timeoutMs: 30_000, message: `${name} to serve` });
      return { ...node, url: url! };
    };
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
