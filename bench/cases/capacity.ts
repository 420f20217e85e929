// Case 3: the coordinator alone, without process spawning. A separate load process plays N workers over the
// real protocol; jobs/s and claim latency at N = 100 and 10,000 connected workers, and the coordinator's RSS
// at the end with 100,000 finished jobs in its history.
import os from 'node:os';
import type { LoadConfig, LoadResult } from '../load/simulated-workers';
import { MiB, profileArgs, type BenchCase, type CaseContext, type CaseResult } from '../lib/case';
import { seedHistory } from '../lib/history';
import { lastJsonLine, rssBytes, startCoordinator, startTsProcess, type CoordinatorRun } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { postgresBinDir, startPostgres } from '../../test/postgres';

const HISTORY_JOBS = 100_000;
const TARGET_JOBS_PER_SEC = 1000;
const CLAIM_P99_LIMIT_MS = 100;
const RSS_LIMIT_MIB = 300;

async function run(ctx: CaseContext): Promise<CaseResult> {
  const history = ctx.quick ? 20_000 : HISTORY_JOBS;
  const sizes = ctx.quick ? [{ workers: 100, jobs: 1000 }, { workers: 2000, jobs: 2000 }] : [{ workers: 100, jobs: 4000 }, { workers: 10_000, jobs: 10_000 }];
  const dataDir = await ctx.tempDir('capacity');
  const seedStart = performance.now();
  await seedHistory(dataDir, history);
  const seedSec = (performance.now() - seedStart) / 1000;
  ctx.log(`seeded ${history} finished jobs in ${seedSec.toFixed(1)} s`);

  const coordinator = await startCoordinator({ dataDir, nodeArgs: profileArgs(ctx, 'capacity-coordinator') });
  const figures: Figure[] = [];
  const runs: (LoadResult & { coordinatorRssMiB: number })[] = [];
  try {
    for (const size of sizes) {
      const config: LoadConfig = {
        url: coordinator.url,
        joinToken: coordinator.joinToken,
        submitToken: coordinator.adminToken,
        workers: size.workers,
        jobs: size.jobs,
        window: 64,
        probes: ctx.quick ? 200 : 300,
        probeRatePerSec: 50,
        claimWaitMs: 25_000,
        coordinatorPid: coordinator.run.pid,
      };
      const load = startTsProcess(`load (${size.workers} workers)`, 'load/simulated-workers.ts', config);
      try {
        await load.waitFor(/^RESULT /m, 600_000);
        const result = lastJsonLine<LoadResult>(load, 'RESULT ');
        const coordinatorRssMiB = rssBytes(coordinator.run.pid) / MiB;
        runs.push({ ...result, coordinatorRssMiB });
        ctx.log(
          `${size.workers} workers: ${result.throughput.jobsPerSec.toFixed(0)} jobs/s (coordinator ${(result.throughput.coordinatorCpu * 100).toFixed(0)}% ` +
            `of a core, load ${(result.throughput.loadCpu * 100).toFixed(0)}%); at ${result.latency.ratePerSec} jobs/s claim p50/p99 ` +
            `${result.latency.claimMs.p50.toFixed(1)}/${result.latency.claimMs.p99.toFixed(1)} ms; ` +
            `coordinator RSS ${coordinatorRssMiB.toFixed(0)} MiB, worker requests per job ${result.throughput.requestsPerJob.toFixed(2)}, ` +
            `errors ${JSON.stringify(result.errors)}`,
        );
        ctx.log(`  ${cpuPerJobLine(result)}`);
        const who = `${size.workers.toLocaleString('en-US')} workers`;
        figures.push(
          figure(
            {
              case: '3. capacity',
              figure: `protocol jobs/s, ${who} (submit, claim, output, complete; every state change committed)`,
              value: result.throughput.jobsPerSec,
              unit: 'jobs/s',
              reference: { label: 'target', value: TARGET_JOBS_PER_SEC, unit: 'jobs/s' },
              target: `≥ ${TARGET_JOBS_PER_SEC.toLocaleString('en-US')} jobs/s`,
            },
            (v, ref) => v >= ref,
          ),
          figure(
            {
              case: '3. capacity',
              figure: `claim p99 (submit → waiting long poll answered) at ${result.latency.ratePerSec} jobs/s, ${who} connected`,
              value: result.latency.claimMs.p99,
              unit: 'ms',
              reference: { label: 'limit', value: CLAIM_P99_LIMIT_MS, unit: 'ms' },
              target: `< ${CLAIM_P99_LIMIT_MS} ms`,
            },
            (v, ref) => v < ref,
          ),
        );
      } finally {
        await load.stop();
      }
    }
    const last = runs.at(-1)!;
    // What each further connected (mostly parked) worker costs: its record, token, socket and waiting claim.
    ctx.log(`coordinator RSS per further connected worker: ${perWorkerKiBOf(runs)?.toFixed(1)} KiB (${runs[0]!.workers} → ${last.workers} workers)`);
    figures.push(
      figure(
        {
          case: '3. capacity',
          figure: `coordinator RSS with ${last.workers.toLocaleString('en-US')} workers connected and ${(history + runs.reduce((n, r) => n + r.throughput.jobs + r.latency.jobs, 0)).toLocaleString('en-US')} jobs in its history`,
          value: last.coordinatorRssMiB,
          unit: 'MiB',
          reference: { label: 'limit', value: RSS_LIMIT_MIB, unit: 'MiB' },
          target: `< ${RSS_LIMIT_MIB} MiB`,
        },
        (v, ref) => v < ref,
      ),
    );
  } finally {
    await coordinator.run.stop();
  }
  const postgres = postgresBinDir() ? await onPostgres(ctx, sizes[0]!, runs[0]!.throughput.jobsPerSec) : null;
  if (postgres) figures.push(...postgres.figures);
  else ctx.log('PostgreSQL runs skipped: no PostgreSQL binaries in /usr/lib/postgresql/*/bin');
  return { figures, details: { historyJobs: history, seedSec, runs, rssKiBPerConnectedWorker: perWorkerKiBOf(runs), postgres: postgres?.details ?? null } };
}

/** One load run against these coordinators of one pool: workers and submits spread over them round-robin. */
async function loadRun(
  ctx: CaseContext,
  coordinators: CoordinatorRun[],
  size: { workers: number; jobs: number },
  postgres: { url: string; pid: number },
): Promise<LoadResult> {
  const [first, ...others] = coordinators;
  const config: LoadConfig = {
    url: first!.url,
    urls: coordinators.map((c) => c.url),
    joinToken: first!.joinToken,
    submitToken: first!.adminToken,
    workers: size.workers,
    jobs: size.jobs,
    window: 64,
    probes: ctx.quick ? 100 : 300,
    probeRatePerSec: 50,
    claimWaitMs: 25_000,
    coordinatorPid: first!.run.pid,
    coordinatorPids: others.map((c) => c.run.pid),
    postgres,
  };
  const load = startTsProcess(`load (${size.workers} workers, ${coordinators.length} coordinators)`, 'load/simulated-workers.ts', config);
  try {
    await load.waitFor(/^RESULT /m, 600_000);
    return lastJsonLine<LoadResult>(load, 'RESULT ');
  } finally {
    await load.stop();
  }
}

/**
 * The smaller load again on PostgreSQL (a throwaway cluster on this machine): one coordinator beside SQLite's
 * figure, then three coordinators on one database beside the one.
 */
async function onPostgres(ctx: CaseContext, size: { workers: number; jobs: number }, sqliteJobsPerSec: number) {
  const cluster = await startPostgres({ countStatements: true });
  const perNodes: Record<number, LoadResult> = {};
  try {
    for (const nodes of [1, 3]) {
      const database = await cluster.createDatabase();
      const args = ['--database', database, '--blob-dir', await ctx.tempDir('capacity-pg-blobs')];
      const coordinators: CoordinatorRun[] = [];
      try {
        for (let i = 0; i < nodes; i++) {
          const tokens = coordinators[0] && { adminToken: coordinators[0].adminToken, joinToken: coordinators[0].joinToken };
          coordinators.push(await startCoordinator({ dataDir: await ctx.tempDir(`capacity-pg-${nodes}-${i}`), args, ...(tokens ? { tokens } : {}) }));
        }
        const result = await loadRun(ctx, coordinators, size, { url: database, pid: cluster.pid });
        perNodes[nodes] = result;
        const db = result.throughput.database!;
        ctx.log(
          `PostgreSQL, ${nodes} coordinator(s), ${size.workers} workers: ${result.throughput.jobsPerSec.toFixed(0)} jobs/s; claim p50/p99 ` +
            `${result.latency.claimMs.p50.toFixed(1)}/${result.latency.claimMs.p99.toFixed(1)} ms; errors ${JSON.stringify(result.errors)}`,
        );
        ctx.log(`  ${cpuPerJobLine(result)}`);
        ctx.log(
          `  per job: ${db.statementsPerJob.toFixed(1)} statements (round trips), ${db.transactionsPerJob.toFixed(1)} transactions; ` +
            `busy backends per sample: ${Object.entries(db.busyBackends).map(([wait, n]) => `${wait} ${n}`).join(', ') || 'none'}`,
        );
      } finally {
        await Promise.all(coordinators.map((c) => c.run.stop()));
      }
    }
  } finally {
    await cluster.stop();
  }
  const one = perNodes[1]!.throughput.jobsPerSec;
  const three = perNodes[3]!.throughput.jobsPerSec;
  const cores = os.availableParallelism();
  // What the machine allows: its cores divided by the CPU one job takes in all parts (coordinators, database, load).
  const bound = (result: LoadResult) => (cores * 1000) / totalCpuMsPerJob(result);
  ctx.log(
    `PostgreSQL 3 vs 1 coordinator(s): ${three.toFixed(0)} vs ${one.toFixed(0)} jobs/s = ${(three / one).toFixed(2)}×; ` +
      `CPU-bound limit on ${cores} cores: ${bound(perNodes[3]!).toFixed(0)} vs ${bound(perNodes[1]!).toFixed(0)} jobs/s`,
  );
  const who = `${size.workers.toLocaleString('en-US')} workers`;
  return {
    figures: [
      figure(
        {
          case: '3. capacity',
          figure: `protocol jobs/s on PostgreSQL, 1 coordinator, ${who}`,
          value: one,
          unit: 'jobs/s',
          reference: { label: 'the same on SQLite', value: sqliteJobsPerSec, unit: 'jobs/s' },
          target: '≥ 0.7× SQLite',
        },
        (v, ref) => v >= 0.7 * ref,
      ),
      figure(
        {
          case: '3. capacity',
          figure: `protocol jobs/s on PostgreSQL, 3 coordinators on one database, ${who} spread over them`,
          value: three,
          unit: 'jobs/s',
          reference: { label: '1 coordinator on PostgreSQL', value: one, unit: 'jobs/s' },
          target: '≥ 2× one coordinator',
        },
        (v, ref) => v >= 2 * ref,
      ),
      figure(
        {
          case: '3. capacity',
          figure: `protocol jobs/s on PostgreSQL, 3 coordinators, beside what ${cores} cores allow at the CPU one job took in all parts (coordinators, database, load)`,
          value: three,
          unit: 'jobs/s',
          reference: { label: 'CPU-bound limit', value: bound(perNodes[3]!), unit: 'jobs/s' },
          target: 'for information',
        },
        null,
      ),
    ],
    details: perNodes,
  };
}

const totalCpuMsPerJob = ({ throughput: { cpuMsPerJob, database } }: LoadResult) =>
  cpuMsPerJob.coordinators.reduce((sum, ms) => sum + ms, 0) + cpuMsPerJob.load + (database?.cpuMsPerJob ?? 0);

/** CPU per job of each part of a run, and their sum. */
function cpuPerJobLine(result: LoadResult): string {
  const { cpuMsPerJob, database } = result.throughput;
  return (
    `CPU per job: coordinator${cpuMsPerJob.coordinators.length > 1 ? 's' : ''} ${cpuMsPerJob.coordinators.map((ms) => ms.toFixed(2)).join(' + ')} ms` +
    `${database ? `, PostgreSQL ${database.cpuMsPerJob.toFixed(2)} ms` : ''}, load ${cpuMsPerJob.load.toFixed(2)} ms; ` +
    `all ${totalCpuMsPerJob(result).toFixed(2)} ms, so the run used ${((totalCpuMsPerJob(result) * result.throughput.jobsPerSec) / 1000).toFixed(2)} ` +
    `of the machine's ${os.availableParallelism()} cores (the rest went to other work on it)`
  );
}

function perWorkerKiBOf(runs: { workers: number; coordinatorRssMiB: number }[]): number | null {
  const [first, last] = [runs[0], runs.at(-1)];
  return first && last && last.workers > first.workers ? ((last.coordinatorRssMiB - first.coordinatorRssMiB) * 1024) / (last.workers - first.workers) : null;
}

export const capacityCase: BenchCase = { id: '3', title: 'coordinator capacity (simulated workers)', run };
