// A whole pool for the cases that run real commands: the real coordinator and real headless agents, each its
// own process, all on this machine.
import { join } from 'node:path';
import { ApiClient } from '../../protocol/client';
import type { CaseContext } from './case';
import { profileArgs } from './case';
import { startAgent, startCoordinator, type ChildRun, type CoordinatorRun } from './processes';

export interface Pool {
  coordinator: CoordinatorRun;
  agents: ChildRun[];
  /** Admin client of the pool. */
  client: ApiClient;
  stop(): Promise<void>;
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startPool(
  ctx: CaseContext,
  name: string,
  options: { agents: number; slots: number; coordinatorArgs?: string[] },
): Promise<Pool> {
  const dir = await ctx.tempDir(name);
  const coordinator = await startCoordinator({ dataDir: join(dir, 'data'), args: options.coordinatorArgs ?? [], nodeArgs: profileArgs(ctx, `${name}-coordinator`) });
  const agents: ChildRun[] = [];
  const client = new ApiClient({ baseUrl: coordinator.url, token: coordinator.adminToken });
  const stop = async () => {
    await Promise.all(agents.map((agent) => agent.stop('SIGTERM')));
    await coordinator.run.stop();
  };
  try {
    for (let i = 0; i < options.agents; i++) {
      agents.push(startAgent({ url: coordinator.url, joinToken: coordinator.joinToken, name: `bench-${i}`, slots: options.slots, workDir: join(dir, `agent-${i}`), nodeArgs: profileArgs(ctx, `${name}-agent-${i}`) }));
    }
    await until(
      async () => {
        const idle = (await client.listWorkers()).filter((w) => w.state === 'idle');
        return idle.length === options.agents ? idle : undefined;
      },
      60_000,
      `${options.agents} agents to join the pool`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { coordinator, agents, client, stop };
}
