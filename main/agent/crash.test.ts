// Agents that die or freeze mid-job: run as child processes (`node bin/worker.js`) so they can be SIGKILLed and
// SIGSTOPped for real, against a coordinator with short leases so expiry comes quickly.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { AgentFleet, processesOfJob, waitForJob, waitForOutput } from './test-support';

const workerBin = fileURLToPath(new URL('../../bin/worker.js', import.meta.url));

interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

let pool: TestCoordinator;
let admin: ApiClient;
let scratch: string;
const fleet = new AgentFleet();
const children: ChildProcess[] = [];

function startWorker(name: string, workDir: string, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, [workerBin, '--name', name, '--labels', name], {
    env: {
      PATH: process.env.PATH!,
      HOME: os.homedir(),
      CMDX_SERVER: pool.url,
      CMDX_JOIN_TOKEN: pool.joinToken,
      CMDX_WORK_DIR: workDir,
      CMDX_KILL_GRACE: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** The worker's id once its process says it is ready. */
async function ready(worker: WorkerProcess, name: string): Promise<string> {
  await waitFor(() => worker.output().includes('worker ready'), { message: `worker ${name} to be ready` });
  return (await admin.listWorkers()).find((w) => w.name === name)!.id;
}

beforeEach(async () => {
  pool = await startTestCoordinator({ leaseTtlSec: 1.5, heartbeatIntervalSec: 0.3 });
  admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'cmdx-crash-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  await fleet.stopAll();
  await pool.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('an agent that dies or freezes mid-job', () => {
  it('SIGKILLed: its lease expires and the job finishes on another agent; restarted, it is the same worker', async () => {
    const workDir = path.join(scratch, 'doomed');
    const doomed = startWorker('doomed', workDir);
    const doomedId = await ready(doomed, 'doomed');
    const job = await admin.submitJob({
      // The first attempt runs until its agent is killed, however late its output is seen; the next one ends at once.
      commands: ['echo "attempt $CMDX_ATTEMPT"; if [ "$CMDX_ATTEMPT" = 1 ]; then sleep 60; fi; echo "finished attempt $CMDX_ATTEMPT"'],
    });
    await waitForOutput(admin, job.id, /attempt 1/);
    expect((await processesOfJob(job.id, 1)).length).toBeGreaterThan(0);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    // The sandbox dies with its agent: nothing of the job is left to run beside its next attempt.
    await waitFor(async () => (await processesOfJob(job.id, 1)).length === 0, { timeoutMs: 1000, message: "the dead agent's job to end" });

    await fleet.start({ server: pool.url, joinToken: pool.joinToken, name: 'survivor' });
    const done = await waitForJob(admin, job.id);
    expect(done).toMatchObject({ state: 'succeeded', workerName: 'survivor' });
    expect(done.attempts.map((a) => [a.workerName, a.outcome])).toEqual([
      ['doomed', 'expired'],
      ['survivor', 'completed'],
    ]);
    expect(await admin.getLog(job.id)).toBe('attempt 2\nfinished attempt 2\n');

    // Back from the dead with the same work dir: the saved identity, not a second "doomed".
    const revived = startWorker('doomed', workDir);
    expect(await ready(revived, 'doomed')).toBe(doomedId);
    expect((await admin.listWorkers()).filter((w) => w.name === 'doomed')).toHaveLength(1);
    revived.child.kill('SIGTERM');
    expect(await revived.exited).toBe(0);
  });

  it('SIGSTOPped past its lease: the job runs elsewhere and its late result is dropped', async () => {
    const frozen = startWorker('frozen', path.join(scratch, 'frozen'));
    await ready(frozen, 'frozen');
    const job = await admin.submitJob({ commands: ['echo "attempt $CMDX_ATTEMPT"; sleep 1; echo "done $CMDX_ATTEMPT"'] });
    await waitForOutput(admin, job.id, /attempt 1/);
    frozen.child.kill('SIGSTOP');

    await fleet.start({ server: pool.url, joinToken: pool.joinToken, name: 'thawed-out' });
    const done = await waitForJob(admin, job.id);
    expect(done).toMatchObject({ state: 'succeeded', workerName: 'thawed-out' });
    // The frozen agent's job finished meanwhile (its process group was not stopped), unreported.
    await waitFor(async () => (await processesOfJob(job.id, 1)).length === 0, { message: "the frozen agent's job to end" });

    frozen.child.kill('SIGCONT');
    // Thawed, it learns the lease is gone from whichever answer comes first: a lease call refused with 409,
    // or a heartbeat that no longer lists the lease. Either way it drops the result.
    await waitFor(() => /result is dropped|dropping this job's result/.test(frozen.output()), {
      message: 'the late result to be dropped',
    });
    const after = await admin.getJob(job.id);
    expect(after).toMatchObject({ state: 'succeeded', workerName: 'thawed-out' });
    expect(after.attempts.map((a) => a.outcome)).toEqual(['expired', 'completed']);
    expect(await admin.getLog(job.id)).toBe('attempt 2\ndone 2\n');

    frozen.child.kill('SIGTERM');
    expect(await frozen.exited).toBe(0);
  });

  it('without a sandbox, what a killed agent left running is killed when it starts again, before it takes a lease', async () => {
    const workDir = path.join(scratch, 'bare');
    const unsandboxed = { CMDX_NO_SANDBOX: '1', CMDX_TRUST: '*', CMDX_STOP_GRACE: '0' };
    const first = startWorker('bare', workDir, unsandboxed);
    await ready(first, 'bare');
    const job = await admin.submitJob({ labels: ['bare'], commands: ['echo started; sleep 60'] });
    await waitForOutput(admin, job.id, 'started');
    first.child.kill('SIGKILL');
    await first.exited;
    // Nothing contains an unsandboxed job: it outlives its agent (the danger this start-up step answers).
    expect((await processesOfJob(job.id, 1)).length).toBeGreaterThan(0);

    const again = startWorker('bare', workDir, unsandboxed);
    await ready(again, 'bare');
    expect(await processesOfJob(job.id, 1)).toEqual([]);
    const log = again.output();
    expect(log).toContain('killed 1 job process tree(s) left running by an earlier run of this worker');
    expect(log.indexOf('killed 1 job process tree')).toBeLessThan(log.indexOf('connected to the coordinator'));
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });
});
