// Case 3's load process: N simulated workers speaking the real protocol over HTTP (register, heartbeat,
// long-poll claim, output chunk, complete), plus the submitters that feed them trivial jobs. It runs in its own
// process so the coordinator is measured alone. Two phases:
//   throughput: `jobs` jobs with at most `window` in flight (queued or running), as fast as they complete;
//   latency:    `probes` jobs submitted at a steady `probeRatePerSec`, each timed from its submit to the
//               moment a waiting long poll hands it to a worker, while all N workers stay connected.
// Prints `RESULT {json}` when both are done, then keeps its workers connected until it is terminated, so the
// coordinator's RSS can be read with them attached.
import { API_PREFIX, type ClaimResponse, type RegisterWorkerResponse } from '../../protocol/api';
import { cpuSeconds } from '../lib/processes';
import { summarize, type Summary } from '../lib/stats';
import { Caller, type Answer } from './http';

export interface LoadConfig {
  url: string;
  joinToken: string;
  submitToken: string;
  workers: number;
  jobs: number;
  window: number;
  probes: number;
  probeRatePerSec: number;
  claimWaitMs: number;
  /** Its CPU time is read around the throughput phase. */
  coordinatorPid: number;
}

export interface LoadResult {
  workers: number;
  registerSec: number;
  /** From the first registration until every worker sat in a long poll on the coordinator. */
  connectSec: number;
  throughput: {
    jobs: number;
    durationSec: number;
    jobsPerSec: number;
    /** Submit sent → claim answered (includes waiting behind the other jobs of the window). */
    claimMs: Summary;
    /** Share of one core the coordinator used during the phase (1 = a whole core). */
    coordinatorCpu: number;
    /** Share of one core this load process used during the phase. */
    loadCpu: number;
  };
  latency: {
    jobs: number;
    ratePerSec: number;
    /** Submit sent → claim answer received by a worker waiting in a long poll. */
    claimMs: Summary;
    /** Submit sent → complete answered (the whole protocol round: claim, output chunk, complete). */
    resultMs: Summary;
  };
  heartbeats: number;
  errors: Record<string, number>;
}

const config = JSON.parse(process.argv[2]!) as LoadConfig;
const caller = new Caller(config.url);
const errors: Record<string, number> = {};
const countError = (what: string) => (errors[what] = (errors[what] ?? 0) + 1);
const progress = (message: string) => process.stderr.write(`[load] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SimWorker {
  id: string;
  token: string;
}

/** When each job was submitted, claimed and completed, whichever side learns of the job first. */
interface Timing {
  submittedAt?: number;
  claimedAt?: number;
  completedAt?: number;
  completed: Promise<void>;
  markCompleted: () => void;
}
const timings = new Map<string, Timing>();
function timingOf(jobId: string): Timing {
  let timing = timings.get(jobId);
  if (!timing) {
    let markCompleted = () => {};
    const completed = new Promise<void>((resolve) => (markCompleted = resolve));
    timing = { completed, markCompleted };
    timings.set(jobId, timing);
  }
  return timing;
}

async function inParallel(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

let heartbeatEveryMs = 10_000;
let heartbeats = 0;

async function register(index: number): Promise<SimWorker> {
  const answer = await caller.request('POST', `${API_PREFIX}/workers`, config.joinToken, { name: `sim-${index}`, os: 'linux', slots: 1 });
  if (answer.status !== 201) throw new Error(`registration answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const registered = answer.body as RegisterWorkerResponse;
  heartbeatEveryMs = registered.heartbeatIntervalSec * 1000;
  return { id: registered.worker.id, token: registered.token };
}

function heartbeatLoop(worker: SimWorker): void {
  const beat = async () => {
    if (await call('heartbeat', 200, () => caller.request('POST', `${API_PREFIX}/workers/${worker.id}/heartbeat`, worker.token, {}))) heartbeats++;
    setTimeout(beat, heartbeatEveryMs).unref();
  };
  // Spread over the interval, as agents that joined at different times would be.
  setTimeout(beat, Math.random() * heartbeatEveryMs).unref();
}

async function claimLoop(worker: SimWorker): Promise<never> {
  for (;;) {
    let answer;
    try {
      answer = await caller.request('POST', `${API_PREFIX}/workers/${worker.id}/claim`, worker.token, { waitMs: config.claimWaitMs }, true);
    } catch (err) {
      countError(`claim ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      await sleep(100);
      continue;
    }
    if (answer.status === 204) continue;
    if (answer.status !== 200) {
      countError(`claim ${answer.status}`);
      await sleep(100);
      continue;
    }
    const claim = answer.body as ClaimResponse;
    const timing = timingOf(claim.job.id);
    timing.claimedAt = performance.now();
    const lease = `${API_PREFIX}/leases/${claim.lease.id}`;
    // A failed call is counted, never fatal: one reset among millions must not end the run (the job then waits
    // for its lease to expire, which shows in the figures).
    await call(`output`, 200, () => caller.request('POST', `${lease}/output`, worker.token, { chunks: [{ seq: 0, stream: 'stdout', data: 'ok\n' }] }));
    if (await call(`complete`, 200, () => caller.request('POST', `${lease}/complete`, worker.token, { outcome: 'succeeded', exitCode: 0 }))) {
      timing.completedAt = performance.now();
      timing.markCompleted();
    }
  }
}

/** One call whose failure (a network error, another status) is counted; resolves with the answer when it is `status`. */
async function call(what: string, status: number, send: () => Promise<Answer>): Promise<Answer | null> {
  try {
    const answer = await send();
    if (answer.status === status) return answer;
    countError(`${what} ${answer.status}`);
  } catch (err) {
    countError(`${what} ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return null;
}

/** Submits one job; resolves with its id once the coordinator accepted it (null if it refused or could not be reached). */
async function submit(name: string): Promise<string | null> {
  const sentAt = performance.now();
  const answer = await call('submit', 201, () => caller.request('POST', `${API_PREFIX}/jobs`, config.submitToken, { commands: ['true'], name }));
  if (!answer) return null;
  const id = (answer.body as { job: { id: string } }).job.id;
  timingOf(id).submittedAt = sentAt;
  return id;
}

/** Claims parked on the coordinator now (0 while it cannot be read: the caller asks again). */
async function waitingClaims(): Promise<number> {
  const answer = await call('metrics', 200, () => caller.request('GET', '/metrics', config.submitToken));
  return Number(/^cmdx_waiting_claims (\d+)/m.exec(String(answer?.body ?? ''))?.[1] ?? 0);
}

const since = (ids: string[], from: 'submittedAt' | 'claimedAt', to: 'claimedAt' | 'completedAt') =>
  ids.map((id) => timings.get(id)!).map((t) => t[to]! - t[from]!);

async function main(): Promise<void> {
  const registerStart = performance.now();
  const workers: SimWorker[] = new Array(config.workers);
  await inParallel(config.workers, 32, async (i) => {
    workers[i] = await register(i);
    if ((i + 1) % 2000 === 0) progress(`registered ${i + 1}/${config.workers}`);
  });
  const registerSec = (performance.now() - registerStart) / 1000;
  for (const worker of workers) {
    heartbeatLoop(worker);
    void claimLoop(worker);
  }
  while ((await waitingClaims()) < config.workers) await sleep(250);
  const connectSec = (performance.now() - registerStart) / 1000;
  progress(`${config.workers} workers in long polls after ${connectSec.toFixed(1)} s; ${config.jobs} jobs, window ${config.window}`);

  const throughputIds: string[] = [];
  const coordinatorCpuStart = cpuSeconds(config.coordinatorPid);
  const loadCpuStart = process.cpuUsage();
  const start = performance.now();
  let submitted = 0;
  await inParallel(config.jobs, config.window, async () => {
    const id = await submit(`throughput ${submitted++}`);
    if (!id) return;
    throughputIds.push(id);
    await timingOf(id).completed;
  });
  const durationSec = (performance.now() - start) / 1000;
  const coordinatorCpu = (cpuSeconds(config.coordinatorPid) - coordinatorCpuStart) / durationSec;
  const loadCpuUsed = process.cpuUsage(loadCpuStart);
  const loadCpu = (loadCpuUsed.user + loadCpuUsed.system) / 1e6 / durationSec;

  progress(`${config.probes} probe jobs at ${config.probeRatePerSec}/s`);
  heartbeats = 0;
  const probeIds: string[] = [];
  const probesStart = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < config.probes; i++) {
    await sleep(probesStart + (i * 1000) / config.probeRatePerSec - performance.now());
    pending.push(
      submit(`probe ${i}`).then(async (id) => {
        if (!id) return;
        probeIds.push(id);
        await timingOf(id).completed;
      }),
    );
  }
  await Promise.all(pending);

  const result: LoadResult = {
    workers: config.workers,
    registerSec,
    connectSec,
    throughput: {
      jobs: throughputIds.length,
      durationSec,
      jobsPerSec: throughputIds.length / durationSec,
      claimMs: summarize(since(throughputIds, 'submittedAt', 'claimedAt')),
      coordinatorCpu,
      loadCpu,
    },
    latency: {
      jobs: probeIds.length,
      ratePerSec: config.probeRatePerSec,
      claimMs: summarize(since(probeIds, 'submittedAt', 'claimedAt')),
      resultMs: summarize(since(probeIds, 'submittedAt', 'completedAt')),
    },
    heartbeats,
    errors,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

process.once('SIGTERM', () => process.exit(0));
main().catch((err: unknown) => {
  process.stderr.write(`[load] failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
