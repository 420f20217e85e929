// Two processes on one folder: a second coordinator on a data dir in use, a second agent on a work dir in use.
// The second is refused with one line naming the holder's PID, before it touches anything of the first.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../bench/lib/processes';
import { waitFor } from '../wait';
import { ProcessPool } from './process-pool';

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectRefusedNaming(result: ReturnType<typeof run>, pid: number, folder: string): void {
  expect(result.code, result.stderr + result.stdout).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`${folder} is in use by process ${pid}`);
  expect(result.stderr).not.toMatch(/\n\s+at |node_modules/);
}

describe('a second process on a folder in use', () => {
  let pool: ProcessPool;
  beforeEach(async () => {
    pool = await ProcessPool.start();
  });
  afterEach(() => pool.cleanUp());

  it('a second coordinator on the data dir is refused and leaves the first one\'s tmp/ and store alone', async () => {
    // An upload in flight of the first coordinator.
    const inFlight = join(pool.dataDir, 'tmp', 'upload-in-flight');
    await writeFile(inFlight, 'partial zip');
    const second = run(['coordinator/index.js', '--port', '0', '--data-dir', pool.dataDir]);
    expectRefusedNaming(second, pool.coordinator.run.pid, pool.dataDir);
    expect(second.stdout).not.toMatch(/serving/);
    expect(await readFile(inFlight, 'utf8')).toBe('partial zip');
    // The first still serves, submits and all.
    const job = await pool.client.submitJob({ commands: ['true'], name: 'after the refusal' });
    expect(job.state).toBe('queued');
  });

  it('a second agent on the work dir is refused and does not touch the first one\'s identity or workspaces', async () => {
    const first = await pool.startAgent('only');
    const workDir = pool.agentDir('only');
    // Registered before the identity is saved: wait for the file.
    const identity = await waitFor(() => readFile(join(workDir, 'state', 'worker.json'), 'utf8'), { message: 'the saved identity' });
    const workspace = join(workDir, 'jobs', 'lease-in-use');
    await mkdir(workspace);
    const second = run(['bin/worker.js', '--server', pool.coordinator.url, '--name', 'only', '--work-dir', workDir], {
      CMDX_JOIN_TOKEN: pool.coordinator.joinToken,
    });
    expectRefusedNaming(second, first.pid, workDir);
    expect(await readFile(join(workDir, 'state', 'worker.json'), 'utf8')).toBe(identity);
    expect(await readdir(join(workDir, 'jobs'))).toEqual(['lease-in-use']);
    expect((await pool.client.listWorkers()).map((w) => w.name)).toEqual(['only']);
  });

  it('a folder whose holder died (kill -9) is taken over', async () => {
    await pool.killCoordinator();
    await pool.startCoordinator();
    expect((await pool.client.listWorkers())).toEqual([]);
  });
});
