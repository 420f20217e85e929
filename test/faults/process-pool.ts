// A pool of real processes for the fault suite: `node coordinator` and `bin/worker.js` agents as children this
// test can kill -9, freeze (SIGSTOP) and restart. Temp dirs under os.tmpdir(), removed by `cleanUp()`.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job, JobState } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { startAgent, startCoordinator, type ChildRun, type CoordinatorRun } from '../../bench/lib/processes';
import { makeTempDir } from '../pool';
import { waitFor } from '../wait';

/** Short leases so a dead or frozen agent loses its job in seconds (the CLI takes whole seconds). */
export const FAST_LEASES = ['--lease-ttl', '2', '--heartbeat-interval', '1'];

export class ProcessPool {
  coordinator!: CoordinatorRun;
  client!: ApiClient;
  readonly agents = new Map<string, ChildRun>();

  private constructor(
    readonly dir: string,
    private readonly coordinatorArgs: string[],
  ) {}

  static async start(coordinatorArgs: string[] = FAST_LEASES): Promise<ProcessPool> {
    const pool = new ProcessPool(await makeTempDir('cmdx-fault-'), coordinatorArgs);
    await pool.startCoordinator();
    return pool;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Starts (or, after a kill, restarts) the coordinator on the same data dir, port and tokens. */
  async startCoordinator(): Promise<void> {
    const before = this.coordinator;
    this.coordinator = await startCoordinator({
      dataDir: this.dataDir,
      args: this.coordinatorArgs,
      ...(before ? { port: Number(new URL(before.url).port), tokens: before } : {}),
    });
    this.client = new ApiClient({ baseUrl: this.coordinator.url, token: this.coordinator.adminToken });
  }

  async killCoordinator(): Promise<void> {
    this.coordinator.run.child.kill('SIGKILL');
    await this.coordinator.run.exited;
  }

  /** Starts an agent and waits until the coordinator lists it idle. */
  async startAgent(name: string, slots = 1, workDir = this.agentDir(name)): Promise<ChildRun> {
    const agent = startAgent({
      url: this.coordinator.url,
      joinToken: this.coordinator.joinToken,
      name,
      slots,
      workDir,
      args: ['--kill-grace', '1', '--stop-grace', '0'],
    });
    this.agents.set(name, agent);
    await waitFor(async () => (await this.client.listWorkers()).some((w) => w.name === name && w.state === 'idle'), {
      timeoutMs: 30_000,
      message: `agent ${name} to join the pool: ${agent.output.slice(-500)}`,
    });
    return agent;
  }

  /**
   * Keeps agent `name` busy with a job pinned to it until the returned function cancels that job: how a test
   * steers a job onto another agent, then hands this one the next, with no race against the clock.
   */
  async occupy(name: string): Promise<() => Promise<void>> {
    const blocker = await this.client.submitJob({ commands: ['sleep 600'], name: `keeps ${name} busy`, labels: [`host:${name}`] });
    await this.waitForJob(blocker.id, (j) => j.state === 'running', `to keep ${name} busy`);
    return async () => {
      await this.client.cancelJob(blocker.id);
      await this.waitForState(blocker.id, ['cancelled']);
    };
  }

  agentDir(name: string): string {
    return join(this.dir, `agent-${name}`);
  }

  async killAgent(name: string): Promise<void> {
    const agent = this.agents.get(name)!;
    agent.child.kill('SIGKILL');
    await agent.exited;
  }

  waitForJob(id: string, test: (job: Job) => boolean, message: string, timeoutMs = 30_000): Promise<Job> {
    return waitFor(
      async () => {
        const job = await this.client.getJob(id);
        return test(job) ? job : undefined;
      },
      { timeoutMs, intervalMs: 50, message: `job ${id}: ${message}` },
    );
  }

  waitForState(id: string, states: JobState[], timeoutMs = 30_000): Promise<Job> {
    return this.waitForJob(id, (job) => states.includes(job.state), `to be ${states.join('/')}`, timeoutMs);
  }

  async cleanUp(): Promise<void> {
    for (const agent of this.agents.values()) {
      agent.child.kill('SIGCONT');
      await agent.stop('SIGKILL');
    }
    await this.coordinator?.run.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}
