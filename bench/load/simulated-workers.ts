// Case 3's load process: N simulated workers speaking the real protocol over HTTP (register, long-poll claim,
// then complete carrying the job's output and asking for the next job; heartbeats only while holding a lease,
// as agents do), plus the submitters that feed them trivial jobs. It runs in its own
// process so the coordinator is measured alone. Two phases:
//   throughput: `jobs` jobs with at most `window` in flight (queued or running), as fast as they complete;
//   latency:    `probes` jobs submitted at a steady `probeRatePerSec`, each timed from its submit to the
//               moment a waiting long poll hands it to a worker, while all N workers stay connected.
// Prints `RESULT {json}` when both are done, then keeps its workers connected until it is terminated, so the
// coordinator's RSS can be read with them attached.
import { API_PREFIX, type ClaimResponse, type CompleteResponse, type RegisterWorkerResponse } from '../../protocol/api';
import { workerRequests } from '../lib/jobs';
import pg from 'pg';
import { cpuSeconds, processTreeCpuSeconds } from '../lib/processes';
import { summarize, type Summary } from '../lib/stats';
import { Caller, type Answer } from './http';

export interface LoadConfig {
  url: string;
  /** Several coordinators of one pool (one database): worker i talks to the i-th (round-robin), so do submits. */
  urls?: string[];
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
  /** The other coordinators' processes (with `urls`), whose CPU time counts too. */
  coordinatorPids?: number[];
  /**
   * The PostgreSQL cluster the coordinators share: its backends' CPU time is read around the throughput phase, its
   * statements and transactions counted (pg_stat_statements), and what its busy backends wait on sampled.
   */
  postgres?: { url: string; pid: number };
}

/** The database's share of the throughput phase (PostgreSQL runs only). */
export interface DatabaseLoad {
  /** Statements the coordinators ran per job (BEGIN and COMMIT included: each is a round trip). */
  statementsPerJob: number;
  /** Transactions begun per job (statements outside one are transactions of their own, not counted here). */
  transactionsPerJob: number;
  /** The backends' CPU per job, ms. */
  cpuMsPerJob: number;
  /** The statements run most, per job, with their text (shortened). */
  topStatements: { perJob: number; query: string }[];
  /** Busy coordinator backends seen waiting, per sample (every 20 ms), by wait event ("CPU" when running). */
  busyBackends: Record<string, number>;
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
    /** CPU per job of each part, ms: each coordinator (in `urls` order) and this load process. */
    cpuMsPerJob: { coordinators: number[]; load: number };
    /** With `postgres`: the database's part. */
    database?: DatabaseLoad;
    /** Worker-side requests per job, counted by the coordinator (claims, completions, heartbeats, lease calls). */
    requestsPerJob: number;
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
const callers = (config.urls ?? [config.url]).map((url) => new Caller(url));
let nextSubmitter = 0;
/** The coordinator worker `index` talks to. */
const callerOf = (index: number) => callers[index % callers.length]!;
const coordinatorPids = [config.coordinatorPid, ...(config.coordinatorPids ?? [])];
/** Worker requests counted by every coordinator of the run. */
const allWorkerRequests = async () => (await Promise.all((config.urls ?? [config.url]).map((url) => workerRequests(url)))).reduce((sum, n) => sum + n, 0);
const coordinatorsCpuSeconds = () => coordinatorPids.map((pid) => cpuSeconds(pid));
const errors: Record<string, number> = {};
const countError = (what: string) => (errors[what] = (errors[what] ?? 0) + 1);
const progress = (message: string) => process.stderr.write(`[load] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SimWorker {
  id: string;
  token: string;
  caller: Caller;
  /** Holding a lease: only then does it heartbeat (an idle worker's open claim says it is there). */
  busy: boolean;
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
  const answer = await callerOf(index).request('POST', `${API_PREFIX}/workers`, config.joinToken, { name: `sim-${index}`, os: 'linux', slots: 1 });
  if (answer.status !== 201) throw new Error(`registration answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const registered = answer.body as RegisterWorkerResponse;
  heartbeatEveryMs = registered.heartbeatIntervalSec * 1000;
  return { id: registered.worker.id, token: registered.token, caller: callerOf(index), busy: false };
}

function heartbeatLoop(worker: SimWorker): void {
  const beat = async () => {
    if (!worker.busy) {
      setTimeout(beat, heartbeatEveryMs).unref();
      return;
    }
    if (await call('heartbeat', 200, () => worker.caller.request('POST', `${API_PREFIX}/workers/${worker.id}/heartbeat`, worker.token, {}))) heartbeats++;
    setTimeout(beat, heartbeatEveryMs).unref();
  };
  // Spread over the interval, as agents that joined at different times would be.
  setTimeout(beat, Math.random() * heartbeatEveryMs).unref();
}

async function claimLoop(worker: SimWorker): Promise<never> {
  let claim: ClaimResponse | null = null;
  for (;;) {
    if (!claim) {
      let answer;
      try {
        answer = await worker.caller.request('POST', `${API_PREFIX}/workers/${worker.id}/claim`, worker.token, { waitMs: config.claimWaitMs }, true);
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
      claim = answer.body as ClaimResponse;
    }
    worker.busy = true;
    const timing = timingOf(claim.job.id);
    timing.claimedAt = performance.now();
    // The whole run in one request: its command records and output ride on the result, which asks for the next job.
    let complete;
    try {
      complete = await worker.caller.request('POST', `${API_PREFIX}/leases/${claim.lease.id}/complete`, worker.token, {
        outcome: 'succeeded',
        exitCode: 0,
        output: [
          { seq: 0, command: { phase: 'start', index: 0 } },
          { seq: 1, stream: 'stdout', data: 'ok\n' },
          { seq: 2, command: { phase: 'end', index: 0, exitCode: 0, signal: null, durationMs: 1 } },
        ],
        next: { waitMs: 0 },
      });
    } catch (err) {
      // Its lease expires and another worker runs the job: that completion is the one timed.
      countError(`complete ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      worker.busy = false;
      claim = null;
      continue;
    }
    worker.busy = false;
    timing.completedAt = performance.now();
    timing.markCompleted();
    if (complete.status !== 200) {
      countError(`complete ${complete.status}`);
      claim = null;
      continue;
    }
    claim = (complete.body as CompleteResponse).next;
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
  const answer = await call('submit', 201, () => callers[nextSubmitter++ % callers.length]!.request('POST', `${API_PREFIX}/jobs`, config.submitToken, { commands: ['true'], name }));
  if (!answer) return null;
  const id = (answer.body as { job: { id: string } }).job.id;
  timingOf(id).submittedAt = sentAt;
  return id;
}

/** Claims parked on every coordinator now (a coordinator that cannot be read counts 0: the caller asks again). */
async function waitingClaims(): Promise<number> {
  let waiting = 0;
  for (const each of callers) {
    const answer = await call('metrics', 200, () => each.request('GET', '/metrics', config.submitToken));
    waiting += Number(/^cmdx_waiting_claims(?:\{[^}]*\})? (\d+)/m.exec(String(answer?.body ?? ''))?.[1] ?? 0);
  }
  return waiting;
}

/** What the database does during the throughput phase: its statements, transactions, CPU and waits. */
class DatabaseProbe {
  private readonly samples: Record<string, number> = {};
  private sampleCount = 0;
  private sampling = true;
  private readonly sampler: Promise<void>;

  private constructor(
    private readonly client: pg.Client,
    private readonly pid: number,
    private readonly before: { calls: Map<string, { calls: number; query: string }>; cpuSec: number },
  ) {
    this.sampler = this.sample();
  }

  static async start(postgres: { url: string; pid: number }): Promise<DatabaseProbe> {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return new DatabaseProbe(client, postgres.pid, { calls: await DatabaseProbe.calls(client), cpuSec: processTreeCpuSeconds(postgres.pid) });
  }

  /** Calls so far of each statement run in this database, the probe's own left out. */
  private static async calls(client: pg.Client): Promise<Map<string, { calls: number; query: string }>> {
    const { rows } = await client.query<{ id: string; calls: string; query: string }>(
      `SELECT s.queryid::text AS id, s.calls, s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
       WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'`,
    );
    return new Map(rows.map((r) => [r.id, { calls: Number(r.calls), query: r.query }]));
  }

  private async sample(): Promise<void> {
    while (this.sampling) {
      const { rows } = await this.client.query<{ wait: string; n: number }>(
        `SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU') AS wait, COUNT(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'
         GROUP BY 1`,
      );
      for (const { wait, n } of rows) this.samples[wait] = (this.samples[wait] ?? 0) + n;
      this.sampleCount++;
      await sleep(20);
    }
  }

  async stop(jobs: number): Promise<DatabaseLoad> {
    const cpuSec = processTreeCpuSeconds(this.pid) - this.before.cpuSec;
    this.sampling = false;
    await this.sampler;
    const after = await DatabaseProbe.calls(this.client);
    await this.client.end();
    const ran = [...after].map(([id, { calls, query }]) => ({ calls: calls - (this.before.calls.get(id)?.calls ?? 0), query })).filter((s) => s.calls > 0);
    const sum = (list: typeof ran) => list.reduce((n, s) => n + s.calls, 0);
    const busyBackends = Object.fromEntries(
      Object.entries(this.samples)
        .sort((a, b) => b[1] - a[1])
        .map(([wait, n]) => [wait, Math.round((n / Math.max(1, this.sampleCount)) * 100) / 100]),
    );
    return {
      statementsPerJob: sum(ran) / jobs,
      transactionsPerJob: sum(ran.filter((s) => /^BEGIN/i.test(s.query))) / jobs,
      topStatements: ran
        .sort((a, b) => b.calls - a.calls)
        .slice(0, 15)
        .map((s) => ({ perJob: Math.round((s.calls / jobs) * 100) / 100, query: s.query.replace(/\s+/g, ' ').slice(0, 120) })),
      cpuMsPerJob: (cpuSec * 1000) / jobs,
      busyBackends,
    };
  }
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
  const requestsBefore = await allWorkerRequests();
  const database = config.postgres ? await DatabaseProbe.start(config.postgres) : null;
  const coordinatorCpuStart = coordinatorsCpuSeconds();
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
  const coordinatorCpuSec = coordinatorsCpuSeconds().map((sec, i) => sec - coordinatorCpuStart[i]!);
  const coordinatorCpu = coordinatorCpuSec.reduce((sum, sec) => sum + sec, 0) / durationSec;
  const loadCpuUsed = process.cpuUsage(loadCpuStart);
  const loadCpuSec = (loadCpuUsed.user + loadCpuUsed.system) / 1e6;
  const loadCpu = loadCpuSec / durationSec;
  const databaseLoad = await database?.stop(throughputIds.length);
  const requestsPerJob = ((await allWorkerRequests()) - requestsBefore) / throughputIds.length;

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
      cpuMsPerJob: { coordinators: coordinatorCpuSec.map((sec) => (sec * 1000) / throughputIds.length), load: (loadCpuSec * 1000) / throughputIds.length },
      ...(databaseLoad ? { database: databaseLoad } : {}),
      requestsPerJob,
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
