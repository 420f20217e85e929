// Case 1: trivial command jobs (`true`) through the coordinator and 2 real agents with 2 slots each, from the
// first submit to the last recorded result, beside the rate at which this machine spawns `sh -c true` with the
// same parallelism: the physical limit for command jobs. Also the requests the workers made per job.
import { spawnRate } from '../lib/baselines';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { runBurst, workerRequests } from '../lib/jobs';
import { startPool } from '../lib/pool';
import { figure } from '../lib/report';

export const AGENTS = 2;
export const SLOTS = 2;
/** Requests per one-command job the protocol aims at: the claim, and the completion that may carry the next claim. */
export const REQUESTS_PER_JOB_TARGET = 2;

async function run(ctx: CaseContext): Promise<CaseResult> {
  const count = ctx.quick ? 200 : 1000;
  const parallelism = AGENTS * SLOTS;
  const rawRate = await spawnRate(count, parallelism);
  ctx.log(`raw spawn of sh -c true, ${parallelism} at a time: ${rawRate.toFixed(0)}/s`);

  const pool = await startPool(ctx, 'throughput', { agents: AGENTS, slots: SLOTS });
  let measured;
  let requestsPerJob;
  try {
    const requestsBefore = await workerRequests(pool.coordinator.url);
    measured = await runBurst(pool.client, count, 'true');
    requestsPerJob = ((await workerRequests(pool.coordinator.url)) - requestsBefore) / count;
  } finally {
    await pool.stop();
  }
  ctx.log(`${count} jobs in ${measured.seconds.toFixed(2)} s (submitting took ${measured.submitSec.toFixed(2)} s): ${measured.jobsPerSec.toFixed(0)} jobs/s`);
  ctx.log(`worker requests per job: ${requestsPerJob.toFixed(2)} (target ≤ ${REQUESTS_PER_JOB_TARGET})`);
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
      figure(
        {
          case: '1. throughput',
          figure: 'worker requests per one-command job (claims, heartbeats, lease calls; from /metrics)',
          value: requestsPerJob,
          unit: 'requests',
          reference: { label: 'target', value: REQUESTS_PER_JOB_TARGET, unit: 'requests' },
          target: `≤ ${REQUESTS_PER_JOB_TARGET}`,
        },
        (v, ref) => v <= ref,
      ),
    ],
    details: { rawSpawnsPerSec: rawRate, parallelism, requestsPerJob, ...measured },
  };
}

export const throughputCase: BenchCase = { id: '1', title: 'command-job throughput (2 real agents × 2 slots)', run };
