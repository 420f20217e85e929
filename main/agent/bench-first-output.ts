// Time from submitting a job to its first output line arriving at the submitter, on an idle pool.
//   npx tsx main/agent/bench-first-output.ts --server URL --token ADMIN_OR_SUBMIT [--join-token T] [--runs 30]
// With --join-token it brings its own agent (in this process, in a temp work dir); otherwise the pool's idle
// workers take the jobs. Each run: submit `echo first-line`, follow the event stream, stop the clock at the
// first output event; then wait for the job to end and the pool to be idle again before the next run.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isTerminal } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { helpText, parseCommandLine, UsageError, type FlagTable } from '../../protocol/cli';
import { parseServerUrls, runMain } from './cli/common';
import { Agent } from './index';

const flags = {
  server: { type: 'string', env: 'CMDX_SERVER', placeholder: 'URL', description: 'coordinator URL' },
  token: { type: 'string', env: 'CMDX_TOKEN', placeholder: 'TOKEN', description: 'submit or admin token' },
  'join-token': { type: 'string', env: 'CMDX_JOIN_TOKEN', placeholder: 'TOKEN', description: 'start an agent of our own with it' },
  runs: { type: 'number', placeholder: 'N', default: 30, description: 'jobs to time' },
} satisfies FlagTable;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function idle(client: ApiClient): Promise<void> {
  for (;;) {
    const workers = await client.listWorkers();
    if (workers.some((w) => w.state === 'idle')) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Back in its long poll: an agent re-claims right after it reports a result.
  await new Promise((resolve) => setTimeout(resolve, 100));
}

async function timeOneJob(client: ApiClient): Promise<number> {
  const started = performance.now();
  const job = await client.submitJob({ commands: ['echo first-line'], name: 'bench: first output' });
  let firstOutput: number | null = null;
  for await (const event of client.events(job.id)) {
    if (event.type === 'output' && firstOutput === null) firstOutput = performance.now() - started;
    if (event.type === 'state' && isTerminal(event.data.state)) {
      if (event.data.state !== 'succeeded') throw new Error(`bench job ${job.id} ended ${event.data.state}`);
      break;
    }
  }
  if (firstOutput === null) throw new Error(`bench job ${job.id} printed nothing`);
  return firstOutput;
}

async function main(argv: string[]): Promise<number> {
  const { flags: f, help } = parseCommandLine(flags, argv, process.env);
  if (help) {
    console.log(helpText('npx tsx main/agent/bench-first-output.ts --server URL --token TOKEN [--join-token T] [--runs N]', flags));
    return 0;
  }
  const [server] = parseServerUrls(f.server) as [string];
  if (!f.token) throw new UsageError('--token is required');
  const runs = f.runs!;
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError('--runs expects a whole number');
  const client = new ApiClient({ baseUrl: server, token: f.token });

  let agent: Agent | undefined;
  const workDir = f['join-token'] ? await mkdtemp(path.join(os.tmpdir(), 'cmdx-bench-')) : undefined;
  try {
    if (f['join-token'] && workDir) {
      agent = new Agent({ server, joinToken: f['join-token'], name: `bench-${os.hostname()}`, workDir });
      await agent.start();
    }
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      await idle(client);
      samples.push(await timeOneJob(client));
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    console.log(
      JSON.stringify({
        runs,
        p50Ms: round(percentile(sorted, 50)),
        p95Ms: round(percentile(sorted, 95)),
        minMs: round(sorted[0]!),
        maxMs: round(sorted.at(-1)!),
      }),
    );
    return 0;
  } finally {
    await agent?.stop({ graceMs: 0 });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

runMain(main);
