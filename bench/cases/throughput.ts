// Case 1: trivial command jobs (`true`) through the coordinator and 2 real agents with 2 slots each, from the
// first submit to the last recorded result, beside the rate at which this machine spawns `sh -c true` with the
// same parallelism: the physical limit for command jobs.
import type { Job } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';
import { spawnRate } from '../lib/baselines';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { startPool } from '../lib/pool';
import { figure } from '../lib/report';

const AGENTS = 2;
const SLOTS = 2;

/** Every job of the pool, newest first. */
async function allJobs(client: ApiClient): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listJobs({ limit: 500, ...(cursor ? { cursor } : {}) });
    jobs.push(...page.jobs);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return jobs;
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  const count = ctx.quick ? 200 : 1000;
  const parallelism = AGENTS * SLOTS;
  const rawRate = await spawnRate(count, parallelism);
  ctx.log(`raw spawn of sh -c true, ${parallelism} at a time: ${rawRate.toFixed(0)}/s`);

  const pool = await startPool(ctx, 'throughput', { agents: AGENTS, slots: SLOTS });
  let measured;
  try {
    const firstSubmit = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < count) await pool.client.submitJob({ commands: ['true'], name: `throughput ${next++}` });
      }),
    );
    const submitSec = (Date.now() - firstSubmit) / 1000;
    const deadline = Date.now() + 600_000;
    while ((await pool.client.listJobs({ state: ['queued', 'leased', 'running'], limit: 1 })).jobs.length > 0) {
      if (Date.now() > deadline) throw new Error('jobs were still unfinished after 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const jobs = await allJobs(pool.client);
    const failed = jobs.filter((j) => j.state !== 'succeeded');
    if (jobs.length !== count || failed.length) {
      throw new Error(`${jobs.length} jobs, ${failed.length} not succeeded (e.g. ${JSON.stringify(failed[0] ?? null).slice(0, 300)})`);
    }
    const lastResult = Math.max(...jobs.map((j) => Date.parse(j.finishedAt!)));
    const seconds = (lastResult - firstSubmit) / 1000;
    measured = { jobs: count, seconds, submitSec, jobsPerSec: count / seconds };
  } finally {
    await pool.stop();
  }
  ctx.log(`${count} jobs in ${measured.seconds.toFixed(2)} s (submitting took ${measured.submitSec.toFixed(2)} s): ${measured.jobsPerSec.toFixed(0)} jobs/s`);
  return {
    figures: [
      figure(
        {
          case: '1. throughput',
          figure: `command jobs (\`true\`) per second, ${AGENTS} agents × ${SLOTS} slots, first submit → last result`,
          value: measured.jobsPerSec,
          unit: 'jobs/s',
          reference: { label: `raw \`sh -c true\` spawns, ${parallelism} at a time`, value: rawRate, unit: '/s' },
          target: '≥ 0.75× raw spawn rate',
        },
        (v, ref) => v >= 0.75 * ref,
      ),
    ],
    details: { rawSpawnsPerSec: rawRate, parallelism, ...measured },
  };
}

export const throughputCase: BenchCase = { id: '1', title: 'command-job throughput (2 real agents × 2 slots)', run };
