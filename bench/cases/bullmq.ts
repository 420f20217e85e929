// Case 8: the same jobs through this pool and through BullMQ on a local Redis, side by side in one run: a burst
// of `true` jobs on 2 workers × 2 concurrency (first submit → last result), and one job at a time on an idle
// pool (submit → final state seen by the submitter). Redis runs as BullMQ's default does, in memory without
// persistence (`--save '' --appendonly no`); this pool commits every state change to SQLite. The bench starts
// and stops its own redis-server and installs nothing: without one, the case says it was skipped.
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { spawnRate } from '../lib/baselines';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { runBurst, submitAndFollow, workerRequests } from '../lib/jobs';
import { startPool } from '../lib/pool';
import { startProgram, startTsProcess, type ChildRun } from '../lib/processes';
import { figure } from '../lib/report';
import { summarize } from '../lib/stats';
import { AGENTS, REQUESTS_PER_JOB_TARGET, SLOTS } from './throughput';

const COMMAND = 'true';
const QUEUE = 'bench';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface BullmqRun {
  jobsPerSec: number;
  seconds: number;
  idleMs: number[];
}

async function runBullmq(count: number, idleCount: number): Promise<BullmqRun> {
  const port = await freePort();
  const redis = startProgram('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const workers: ChildRun[] = [];
  // Clients made here (BullMQ loads ioredis itself only where `require` exists), so they are closed here too.
  const clients: Redis[] = [];
  const connect = () => {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
    clients.push(client);
    return client;
  };
  let queue: Queue | undefined;
  let events: QueueEvents | undefined;
  try {
    await redis.waitFor(/Ready to accept connections/, 30_000);
    queue = new Queue(QUEUE, { connection: connect() });
    events = new QueueEvents(QUEUE, { connection: connect() });
    await events.waitUntilReady();
    for (let i = 0; i < AGENTS; i++) workers.push(startTsProcess(`bullmq worker ${i}`, 'load/bullmq-worker.ts', { port, queue: QUEUE, concurrency: SLOTS }));
    await Promise.all(workers.map((worker) => worker.waitFor(/^READY$/m, 60_000)));

    const firstAdd = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < count) await queue!.add('burst', { command: COMMAND }, { jobId: `burst-${next++}` });
      }),
    );
    const deadline = Date.now() + 600_000;
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if (counts.failed) throw new Error(`${counts.failed} BullMQ jobs failed`);
      if (counts.completed === count) break;
      if (Date.now() > deadline) throw new Error('BullMQ jobs were still unfinished after 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const done = await queue.getJobs(['completed'], 0, -1);
    const seconds = (Math.max(...done.map((job) => job.finishedOn!)) - firstAdd) / 1000;

    const idleMs: number[] = [];
    for (let i = 0; i < idleCount; i++) {
      const started = performance.now();
      const job = await queue.add('idle', { command: COMMAND }, { jobId: `idle-${i}` });
      await job.waitUntilFinished(events, 30_000);
      idleMs.push(performance.now() - started);
    }
    return { jobsPerSec: count / seconds, seconds, idleMs };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
    await events?.close();
    await queue?.close();
    for (const client of clients) client.disconnect();
    await redis.stop('SIGTERM');
  }
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  if (spawnSync('redis-server', ['--version']).error) {
    ctx.log('skipped: redis-server not installed (Debian: apt-get install redis-server)');
    return { figures: [], details: { skipped: 'redis-server not installed' } };
  }
  const count = ctx.quick ? 500 : 2000;
  const idleCount = ctx.quick ? 50 : 200;
  const parallelism = AGENTS * SLOTS;

  const pool = await startPool(ctx, 'bullmq-side-by-side', { agents: AGENTS, slots: SLOTS });
  let ours;
  let requestsPerJob;
  const oursIdleMs: number[] = [];
  try {
    const requestsBefore = await workerRequests(pool.coordinator.url);
    ours = await runBurst(pool.client, count, COMMAND);
    requestsPerJob = ((await workerRequests(pool.coordinator.url)) - requestsBefore) / count;
    for (let i = 0; i < idleCount; i++) oursIdleMs.push((await submitAndFollow(pool.client, COMMAND, `idle ${i}`)).resultMs);
  } finally {
    await pool.stop();
  }
  const bullmq = await runBullmq(count, idleCount);
  const rawRate = await spawnRate(count, parallelism);

  const oursIdle = summarize(oursIdleMs);
  const bullmqIdle = summarize(bullmq.idleMs);
  ctx.log(`${count} \`${COMMAND}\` jobs: this pool ${ours.jobsPerSec.toFixed(0)} jobs/s, BullMQ ${bullmq.jobsPerSec.toFixed(0)} jobs/s (${(ours.jobsPerSec / bullmq.jobsPerSec).toFixed(2)}×), raw spawns ${rawRate.toFixed(0)}/s`);
  ctx.log(`idle submit → final state seen, p50: this pool ${oursIdle.p50.toFixed(1)} ms, BullMQ ${bullmqIdle.p50.toFixed(1)} ms`);
  ctx.log(`worker requests per job: ${requestsPerJob.toFixed(2)} (target ≤ ${REQUESTS_PER_JOB_TARGET})`);
  const setting = `${AGENTS} workers × ${SLOTS}`;
  return {
    figures: [
      figure(
        {
          case: '8. beside BullMQ',
          figure: `\`${COMMAND}\` jobs per second, ${count} jobs, ${setting}, first submit → last result (every state change committed)`,
          value: ours.jobsPerSec,
          unit: 'jobs/s',
          reference: { label: `BullMQ on a local Redis without persistence, same jobs, ${setting}`, value: bullmq.jobsPerSec, unit: 'jobs/s' },
          target: '–',
        },
        null,
      ),
      figure(
        {
          case: '8. beside BullMQ',
          figure: `one \`${COMMAND}\` job on an idle pool, submit → final state seen, p50 (${idleCount} jobs)`,
          value: oursIdle.p50,
          unit: 'ms',
          reference: { label: 'BullMQ, same, p50 (Job.waitUntilFinished)', value: bullmqIdle.p50, unit: 'ms' },
          target: '–',
        },
        null,
      ),
    ],
    details: { jobs: count, ours, requestsPerJob, bullmq: { jobsPerSec: bullmq.jobsPerSec, seconds: bullmq.seconds }, rawSpawnsPerSec: rawRate, idleMs: { ours: oursIdle, bullmq: bullmqIdle } },
  };
}

export const bullmqCase: BenchCase = { id: '8', title: 'side by side with BullMQ on a local Redis', run };
