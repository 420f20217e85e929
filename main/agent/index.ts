// The worker agent: registers with the coordinator, heartbeats, claims jobs with the long poll and runs up
// to `slots` of them at once. Pure Node: the desktop app embeds it, `npm run worker` runs it headless, and
// `node coordinator --with-worker` runs it beside the coordinator.
import { EventEmitter } from 'node:events';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lockDir, type DirLock } from '../../common/dir-lock';
import {
  effectiveLimits,
  type ClaimFilter,
  type ClaimResponse,
  type HeartbeatResponse,
  type Isolation,
  type JobLimits,
  type LeaseDirective,
  type ReportedWorkerState,
  type SandboxKind,
} from '../../protocol/api';
import { DEFAULT_JOB_LIMITS } from '../../protocol/limits';
import { ApiClient, ApiError } from '../../protocol/client';
import { hostLabel } from '../../protocol/host-label';
import { parseServerList } from '../../protocol/addresses';
import { BundleCache, DEFAULT_CACHE_MAX_BYTES } from './bundle-cache';
import { handingBackWorkerFaults, WorkerHealth } from './health';
import { IdentityFile, type SavedIdentity } from './identity';
import { ControlChannel } from './control';
import { JobExecution, type JobPhase } from './job';
import { silentLogger, type AgentLogger } from './logger';
import { DEFAULT_MAX_BUFFER_BYTES } from './output';
import { transportFetch } from './transport';
import { chooseSandbox, noSandbox, type Sandbox, type SandboxPreference } from './sandbox';
import { RunningProcesses } from './sandbox/leftovers';
import { Alarm, backoffDelay, isTransient, settlesWithin, type BackoffOptions } from './timing';
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from './zip';
import { WORKER_PROTOCOL } from '../../protocol/versions';

export { createConsoleLogger, type AgentLogger } from './logger';
/** The label every agent carries (`host:<name>`), so a job can be pinned to one PC ("This PC"). */
export { hostLabel };

export interface AgentOptions {
  /** The coordinator's URL, or the URLs of several nodes of one pool comma-separated: requests move to the next when one fails. */
  server: string;
  joinToken: string;
  /** Shown in the pool; default the host name. */
  name?: string;
  labels?: string[];
  /** Jobs at once; default 1. */
  slots?: number;
  /** Holds state/ (worker.json: id + token, mode 0600), cache/ (ZIPs by SHA-256) and jobs/ (workspaces). */
  workDir: string;
  logger?: AgentLogger;
  /** Between the polite signal and the hard kill of a job's process tree; default 10000. */
  killGraceMs?: number;
  /** Keep each job's workspace after it ends (debugging). */
  keepWorkspaces?: boolean;
  cacheMaxBytes?: number;
  /**
   * Output held per job while the coordinator is slow: past half of it the job's pipes are paused until the
   * coordinator catches up; past all of it (the coordinator took nothing for `maxOutputPausedMs`) output is dropped with a marker.
   */
  maxOutputBufferBytes?: number;
  /** How long a job's output may stay paused while the coordinator takes none, before the job runs on and output is dropped; default 30000. */
  maxOutputPausedMs?: number;
  /** Long-poll length of a claim; default 25000 (the coordinator allows up to 30000). */
  claimWaitMs?: number;
  /** Retry delays while the coordinator is unreachable (jittered, doubling from baseMs up to maxMs). */
  backoff?: BackoffOptions;
  /** How long output may wait before it is sent; default 100. */
  outputFlushMs?: number;
  /** How long stop() waits for results to reach an unreachable coordinator before it gives up; default 10000. */
  deliveryGraceMs?: number;
  zipLimits?: ZipLimits;
  /** Reported at registration (the package version). */
  version?: string;
  /** Below this much free space on the work dir's disk no job is taken; default 1 MiB. */
  minFreeBytes?: number;
  /** `auto` (default): the best sandbox this OS offers; `none`: jobs run unconfined (only trusted submitters'). */
  sandbox?: SandboxPreference;
  /** Let jobs that ask for it (`network: true`) reach the network; default false (jobs get none). */
  allowNetwork?: boolean;
  /** Each job's limits (DEFAULT_JOB_LIMITS for those not given); a job may ask for lower ones. */
  limits?: Partial<JobLimits>;
  /**
   * Submitters (their token names) whose jobs this worker runs when it has no sandbox; without a sandbox
   * it takes no one else's. `*` trusts everyone. Ignored when a sandbox runs.
   */
  trust?: string[];
  /**
   * Leave the pool on stop() (the default), or stay registered and come back as the same worker on the next
   * start: the coordinator's own local worker, which stops and starts with it.
   */
  leaveOnStop?: boolean;
  /** How to reach the coordinator (a pinned-certificate fetch from transportFetch); default the global fetch. */
  fetch?: typeof fetch;
}

export type AgentState = 'starting' | 'idle' | 'busy' | 'suspended' | 'paused' | 'disconnected' | 'stopped';

export interface AgentJobStatus {
  id: string;
  name: string;
  state: JobPhase;
  leaseId: string;
}

export interface AgentStatus {
  state: AgentState;
  workerId: string | null;
  name: string;
  jobs: AgentJobStatus[];
  connected: boolean;
  /** How it contains jobs, once start() has chosen (null before). */
  sandbox: SandboxKind | null;
  /** Why it takes no job (a full disk), in words for its owner; null while healthy. */
  problem: string | null;
}

/** The coordinator does not know this worker (or its token) any more. */
const identityRejected = (err: unknown): boolean =>
  err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404);

/** An administrator removed this worker from the pool (its token was revoked): it stops instead of joining again. */
const removedFromPool = (err: unknown): boolean => err instanceof ApiError && err.code === 'token_revoked';

/** Registration failed for a reason retrying will not fix (a wrong join token, a bad label). */
export class RegistrationRefusedError extends Error {
  override name = 'RegistrationRefusedError';
}

type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };
const DEFAULT_KILL_GRACE_MS = 10_000;
const DEFAULT_DELIVERY_GRACE_MS = 10_000;
/** How long the control stream stays open after the last job ended, for the next one. */
const CONTROL_LINGER_MS = 30_000;
/** How often an unhealthy worker looks again whether its problem is gone. */
const PROBLEM_CHECK_MS = 5_000;

export class Agent extends EventEmitter {
  private readonly logger: AgentLogger;
  /** The name asked for; the coordinator may give another (names are unique in the pool). */
  private readonly requestedName: string;
  private name: string;
  private readonly labels: string[];
  private readonly slots: number;
  /** The nodes' URLs, comma-separated: who the saved identity is for, and what the log names. */
  private readonly server: string;
  /** Requests name the first node; the fetch (transportFetch) sends them to the node that answers. */
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch | undefined;
  private readonly backoff: BackoffOptions;
  private readonly killGraceMs: number;
  private readonly dirs: { state: string; cache: string; jobs: string };
  private readonly identityFile: IdentityFile;
  private readonly client: ApiClient;
  private readonly health: WorkerHealth;
  /** What jobs report through: a job that could not run for this worker's own reasons is handed back. */
  private readonly jobClient: ApiClient;
  private reportedProblem: string | null = null;
  private readonly cache: BundleCache;
  private readonly running: RunningProcesses;
  private readonly limits: JobLimits;
  private sandbox: Sandbox = noSandbox;
  private sandboxChosen = false;
  /** Whether jobs that ask for it get network here (the owner allows it and the sandbox can give it). */
  private network = false;
  private readonly jobs = new Map<string, JobExecution>();
  /** Workspaces of finished jobs being removed in the background; stop() waits for them. */
  private readonly cleanups = new Set<Promise<void>>();
  private readonly heartbeatAlarm = new Alarm();
  private readonly claimAlarm = new Alarm();
  private readonly control: ControlChannel;
  private phase: Phase = 'new';
  private lock: DirLock | null = null;
  private workerId: string | null = null;
  private connected = false;
  private paused = false;
  private suspended = false;
  private heartbeatMs = 10_000;
  private beatRequested = false;
  private claimAbort: AbortController | null = null;
  private reconnecting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private loops: Promise<void>[] = [];
  private lastStatus = '';
  /** When the last job ended: the control stream stays open a while for the next one. */
  private lastJobEndedAt = 0;
  private controlLinger: NodeJS.Timeout | null = null;
  private wasRemoved = false;

  constructor(private readonly options: AgentOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.requestedName = options.name?.trim() || os.hostname();
    this.name = this.requestedName;
    this.labels = [...new Set([...(options.labels ?? []), hostLabel(this.name)])];
    this.slots = options.slots ?? 1;
    const servers = parseServerList(options.server);
    this.server = servers.join(',');
    this.baseUrl = servers[0]!;
    this.fetch = options.fetch ?? (servers.length > 1 ? transportFetch(servers) : undefined);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.dirs = {
      state: path.join(options.workDir, 'state'),
      cache: path.join(options.workDir, 'cache'),
      jobs: path.join(options.workDir, 'jobs'),
    };
    this.running = new RunningProcesses(path.join(this.dirs.state, 'running'));
    this.limits = effectiveLimits(DEFAULT_JOB_LIMITS, options.limits);
    this.identityFile = new IdentityFile(this.dirs.state);
    this.client = this.clientWith(undefined);
    this.health = new WorkerHealth(options.workDir, options.minFreeBytes);
    this.jobClient = handingBackWorkerFaults(this.client, this.health, (problem) => this.problemFound(problem));
    this.control = new ControlChannel({
      client: this.client,
      workerId: () => this.workerId,
      needed: () => this.jobs.size > 0 || Date.now() - this.lastJobEndedAt < CONTROL_LINGER_MS,
      onStop: (directive) => this.applyDirective(directive),
      logger: this.logger,
      backoff: this.backoff,
    });
    this.cache = new BundleCache(this.dirs.cache, options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES, Date.now, (message) =>
      this.logger.warn(message),
    );
  }

  // ---- life cycle ----

  /**
   * Registers (or reuses the saved identity), then heartbeats and claims in the background. Waits for the
   * coordinator while it is unreachable; rejects when it refuses the join token.
   */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw new Error('an agent starts only once');
    this.phase = 'starting';
    this.emitStatus();
    await mkdir(this.options.workDir, { recursive: true });
    try {
      // Before anything is touched: two agents on one work dir would share one identity and hand each other's leases back.
      this.lock = await lockDir(this.options.workDir, 'work dir');
    } catch (err) {
      this.phase = 'stopped';
      this.emitStatus();
      throw err;
    }
    for (const dir of Object.values(this.dirs)) await mkdir(dir, { recursive: true, mode: 0o700 });
    // Before any lease is released or taken: a job an earlier run left running must not run beside its rerun.
    const leftovers = await this.running.killLeftovers();
    if (leftovers > 0) this.logger.warn(`killed ${leftovers} job process tree(s) left running by an earlier run of this worker`);
    // Workspaces left by a crash belong to leases the coordinator has long given away.
    for (const leftover of await readdir(this.dirs.jobs)) await rm(path.join(this.dirs.jobs, leftover), { recursive: true, force: true });
    const choice = await chooseSandbox(this.dirs.state, this.options.sandbox, this.options.allowNetwork ?? false);
    this.sandbox = choice.sandbox;
    this.network = choice.network;
    this.sandboxChosen = true;
    this.emitStatus();
    if (this.sandbox.kind === 'none') {
      const trusted = this.options.trust ?? [];
      this.logger.warn(`sandbox: none (${choice.why}); jobs run as this user and can read what it can`, {
        runs: trusted.includes('*') ? 'everyone’s jobs' : trusted.length > 0 ? `jobs of ${trusted.join(', ')}` : 'nobody’s jobs (no --trust)',
      });
    } else {
      this.logger.info(`sandbox: ${this.sandbox.kind} (${choice.why})`, { network: this.network ? 'allowed' : 'none' });
      if (choice.noNetworkWhy) this.logger.warn(`network is allowed but jobs get none: ${choice.noNetworkWhy}`);
    }
    try {
      await this.connect();
    } catch (err) {
      this.phase = 'stopped';
      await this.releaseLock();
      this.emitStatus();
      throw err;
    }
    if (this.phase !== 'starting') return; // stop() came first
    this.phase = 'running';
    this.emitStatus();
    this.loops = [this.heartbeatLoop(), this.claimLoop()];
    this.control.start();
  }

  /**
   * Stops claiming, lets running jobs finish within `graceMs` (frozen ones cannot, so they go back at once),
   * hands back the rest, and deregisters.
   */
  stop({ graceMs = 30_000 }: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutDown(graceMs);
    return this.stopping;
  }

  private async shutDown(graceMs: number): Promise<void> {
    if (this.phase === 'new' || this.phase === 'stopped') {
      this.phase = 'stopped';
      await this.releaseLock();
      this.emitStatus();
      return;
    }
    this.logger.info(this.jobs.size > 0 ? `stopping: waiting up to ${graceMs} ms for ${this.jobs.size} job(s)` : 'stopping');
    this.phase = 'stopping';
    this.claimAbort?.abort();
    this.claimAlarm.wake();
    this.heartbeatAlarm.wake();
    this.emitStatus();
    const allDone = () => Promise.all([...this.jobs.values()].map((job) => job.done));
    if (this.jobs.size > 0 && (this.suspended || !(await settlesWithin(allDone(), graceMs)))) {
      for (const job of this.jobs.values()) void job.stop('shutdown');
    }
    // Killing takes up to the kill grace; then the results and hand-backs get their own grace to arrive.
    if (!(await settlesWithin(allDone(), this.killGraceMs + (this.options.deliveryGraceMs ?? DEFAULT_DELIVERY_GRACE_MS)))) {
      this.logger.warn('the coordinator did not take the last results in time; giving up on them');
      for (const job of this.jobs.values()) job.abandon();
      await allDone();
    }
    await Promise.all(this.cleanups);
    if (this.controlLinger) clearTimeout(this.controlLinger);
    await this.control.stop();
    await this.deregister();
    this.phase = 'stopped';
    this.heartbeatAlarm.wake();
    this.claimAlarm.wake();
    await Promise.all(this.loops);
    await this.releaseLock();
    this.emitStatus();
    this.logger.info('stopped');
  }

  private async releaseLock(): Promise<void> {
    await this.lock?.release();
    this.lock = null;
  }

  private async deregister(): Promise<void> {
    if (!this.workerId || this.wasRemoved || this.options.leaveOnStop === false) return;
    const gone = this.client.deregisterWorker(this.workerId).then(
      () => true,
      (err: Error) => {
        // Unknown to the coordinator already: nothing left to undo.
        if (identityRejected(err)) return true;
        this.logger.warn(`could not deregister (${err.message}); the saved identity is kept for the next start`);
        return false;
      },
    );
    if ((await settlesWithin(gone, 5000)) && (await gone)) await this.identityFile.forget();
  }

  /** A getter, so the compiler does not assume the phase stayed what it was before an await. */
  private get hasStopped(): boolean {
    return this.phase === 'stopped';
  }

  // ---- owner controls (the desktop app's idle policy and tray) ----

  /** Freezes the running jobs' process trees and tells the coordinator; no new job is claimed meanwhile. */
  async suspend(): Promise<void> {
    if (this.suspended) return;
    this.suspended = true;
    this.claimAbort?.abort();
    for (const job of this.jobs.values()) job.suspend();
    this.logger.info('suspended', { jobs: this.jobs.size });
    this.requestHeartbeat();
    this.emitStatus();
  }

  async resume(): Promise<void> {
    if (!this.suspended) return;
    this.suspended = false;
    for (const job of this.jobs.values()) job.resume();
    this.logger.info('resumed', { jobs: this.jobs.size });
    this.requestHeartbeat();
    this.claimAlarm.wake();
    this.emitStatus();
  }

  /** Kills the running jobs and hands them back to the queue (not counted as failures). */
  async vacate(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((job) => job.stop('vacated')));
  }

  /**
   * Paused ("Pause" / contribute off): what runs finishes, and only jobs pinned to this PC (`host:<name>`)
   * are taken; unpaused: any job that fits.
   */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    this.claimAbort?.abort(); // the claim on its way asks for the wrong jobs now
    this.claimAlarm.wake();
    this.logger.info(paused ? 'paused: only jobs pinned to this PC' : 'taking any job again');
    this.requestHeartbeat();
    this.emitStatus();
  }

  status(): AgentStatus {
    const jobs = [...this.jobs.values()].map((job) => ({ id: job.id, name: job.name, state: job.phase, leaseId: job.leaseId }));
    let state: AgentState;
    if (this.phase === 'stopped') state = 'stopped';
    else if (this.phase === 'new' || this.phase === 'starting') state = 'starting';
    else if (!this.connected) state = 'disconnected';
    else if (this.suspended) state = 'suspended';
    else if (jobs.length > 0) state = 'busy';
    else if (this.paused) state = 'paused';
    else state = 'idle';
    return { state, workerId: this.workerId, name: this.name, jobs, connected: this.connected, sandbox: this.sandboxChosen ? this.sandbox.kind : null, problem: this.reportedProblem };
  }

  private emitStatus(): void {
    const status = this.status();
    const key = JSON.stringify(status);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    try {
      this.emit('status', status);
    } catch (err) {
      // A listener's bug must not break the job whose progress it was told about.
      this.logger.error(`a status listener failed: ${(err as Error).message}`);
    }
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    if (this.phase === 'starting' || this.phase === 'running') {
      if (connected) this.logger.info('connected to the coordinator', { server: this.server, worker: this.workerId });
      else this.logger.warn('the coordinator is unreachable; retrying with backoff', { server: this.server });
    }
    this.emitStatus();
  }

  // ---- registration ----

  isolation(): Isolation {
    return { sandbox: this.sandbox.kind, network: this.network, limits: this.limits };
  }

  private clientWith(token: string | undefined): ApiClient {
    return new ApiClient({ baseUrl: this.baseUrl, ...(token ? { token } : {}), ...(this.fetch ? { fetch: this.fetch } : {}) });
  }

  private registration(): string {
    // The version too: an updated agent registers again, so the workers view shows what it runs now.
    return JSON.stringify({
      name: this.requestedName, labels: this.labels, slots: this.slots, isolation: this.isolation(), version: this.options.version ?? null, protocol: WORKER_PROTOCOL,
    });
  }

  /** The saved identity when it is for this coordinator and these settings; otherwise a new registration. */
  private async identity(): Promise<{ identity: SavedIdentity; fresh: boolean }> {
    const saved = await this.identityFile.load();
    if (saved && saved.server === this.server && saved.registration === this.registration()) {
      this.name = saved.name ?? this.requestedName;
      return { identity: saved, fresh: false };
    }
    if (saved && saved.server === this.server) {
      // Settings changed: the old record goes so the pool does not show a ghost beside the new one.
      await this.clientWith(saved.token).deregisterWorker(saved.workerId).catch(() => {});
    }
    let registered;
    try {
      registered = await this.clientWith(this.options.joinToken).registerWorker({
        name: this.requestedName,
        os: process.platform,
        arch: process.arch,
        cpus: Math.max(1, os.availableParallelism()),
        memoryBytes: os.totalmem(),
        labels: this.labels,
        slots: this.slots,
        isolation: this.isolation(),
        ...(this.options.version ? { version: this.options.version } : {}),
        protocolVersion: WORKER_PROTOCOL,
      });
    } catch (err) {
      if (err instanceof ApiError && !isTransient(err)) {
        throw new RegistrationRefusedError(
          err.status === 401 || err.status === 403
            ? `the coordinator at ${this.server} refused the join token (${err.message})`
            : `the coordinator at ${this.server} refused the registration: ${err.message}`,
        );
      }
      throw err;
    }
    // The coordinator names workers (a name taken in the pool gets a number): jobs pinned to this PC use its name.
    this.name = registered.worker.name;
    const identity = {
      server: this.server,
      workerId: registered.worker.id,
      token: registered.token,
      registration: this.registration(),
      name: this.name,
    };
    await this.identityFile.save(identity);
    this.heartbeatMs = registered.heartbeatIntervalSec * 1000;
    this.logger.info(`registered as worker ${identity.workerId}`, { name: this.name, labels: this.labels.join(','), slots: this.slots });
    return { identity, fresh: true };
  }

  /** Until the coordinator answers a heartbeat with our identity: register if needed, back off while unreachable. */
  private async connect(): Promise<void> {
    let failures = 0;
    while (this.phase === 'starting' || this.phase === 'running') {
      let unanswered = '';
      const { identity, fresh } = await this.identity().catch((err: unknown) => {
        if (!isTransient(err)) throw err;
        unanswered = (err as Error).message;
        return { identity: null, fresh: false };
      });
      try {
        if (!identity) throw new ApiError(0, 'unreachable', `the coordinator did not answer the registration: ${unanswered}`);
        if (this.workerId !== identity.workerId) this.control.restart();
        this.workerId = identity.workerId;
        this.client.token = identity.token;
        const sentAt = Date.now();
        const answer = await this.client.heartbeat(identity.workerId, this.reportedState());
        this.setConnected(true);
        this.applyHeartbeat(answer, sentAt);
        return;
      } catch (err) {
        if (removedFromPool(err)) throw new RegistrationRefusedError(this.removedMessage());
        if (identityRejected(err)) {
          if (fresh) throw new RegistrationRefusedError(`the coordinator refused the token it just issued: ${(err as Error).message}`);
          this.logger.warn('the coordinator does not know the saved identity; registering again');
          await this.identityFile.forget();
          continue;
        }
        if (!isTransient(err)) throw err;
        if (failures === 0) this.logger.warn(`cannot reach the coordinator: ${(err as Error).message}; retrying`);
        this.setConnected(false);
        await this.heartbeatAlarm.sleep(backoffDelay(failures++, this.backoff));
      }
    }
  }

  private removedMessage(): string {
    return `an administrator removed this worker from the pool (its token was revoked); to join again, delete ${this.identityFile.file} and start it`;
  }

  /**
   * Removed from the pool: its jobs are already back in the queue, so they stop here, and the agent stops
   * rather than joining again as a new worker. The saved identity stays, so a restart is refused the same way.
   */
  private removed(): void {
    if (this.wasRemoved) return;
    this.wasRemoved = true;
    const message = this.removedMessage();
    this.logger.error(message);
    for (const job of this.jobs.values()) void job.stop('lost');
    void this.stop({ graceMs: 0 }).then(() => this.emit('removed', new RegistrationRefusedError(message)));
  }

  /** The coordinator forgot this worker: its leases went with the old identity, so its jobs are dropped. */
  private reconnect(): Promise<void> {
    this.reconnecting ??= (async () => {
      this.logger.warn('the coordinator no longer knows this worker; registering again');
      this.setConnected(false);
      for (const job of this.jobs.values()) void job.stop('lost');
      await this.identityFile.forget();
      for (let failures = 0; this.phase === 'running'; failures++) {
        try {
          await this.connect();
          return;
        } catch (err) {
          this.logger.error(`registering again failed: ${(err as Error).message}`);
          await this.heartbeatAlarm.sleep(backoffDelay(failures, this.backoff));
        }
      }
    })().finally(() => {
      this.reconnecting = null;
    });
    return this.reconnecting;
  }

  // ---- heartbeats ----

  private reportedState(): ReportedWorkerState {
    if (this.suspended) return 'suspended';
    return this.paused ? 'paused' : 'active';
  }

  private requestHeartbeat(): void {
    this.beatRequested = true;
    this.heartbeatAlarm.wake();
  }

  private async heartbeatLoop(): Promise<void> {
    let failures = 0;
    while (this.phase === 'running' || this.phase === 'stopping') {
      if (!this.beatRequested) {
        await this.heartbeatAlarm.sleep(failures > 0 ? backoffDelay(failures - 1, this.backoff) : this.heartbeatMs);
      }
      if (this.hasStopped) return;
      // Idle in a claim: the open claim tells the coordinator this worker is there; only leases need renewing.
      if (!this.beatRequested && failures === 0 && this.jobs.size === 0 && this.claimAbort) continue;
      this.beatRequested = false;
      try {
        const sentAt = Date.now();
        const problem = this.health.problem;
        const answer = await this.client.heartbeat(this.workerId!, this.reportedState(), problem);
        this.reportedProblem = problem;
        // Its owner sees the problem (and that it is gone) in the tray and the window.
        this.emitStatus();
        failures = 0;
        this.setConnected(true);
        this.applyHeartbeat(answer, sentAt);
      } catch (err) {
        if (removedFromPool(err)) {
          this.removed();
          continue;
        }
        if (identityRejected(err) && this.phase === 'running') {
          await this.reconnect();
          continue;
        }
        failures++;
        if (isTransient(err)) this.setConnected(false);
        else this.logger.error(`heartbeat refused: ${(err as Error).message}`);
      }
    }
  }

  private applyHeartbeat(answer: HeartbeatResponse, sentAt: number): void {
    this.heartbeatMs = answer.heartbeatIntervalSec * 1000;
    for (const directive of answer.stop) this.applyDirective(directive);
    const held = new Set(answer.leases.map((lease) => lease.leaseId));
    for (const job of this.jobs.values()) {
      // A job reporting its end may have just completed its lease; its own calls learn of a loss (409).
      if (!held.has(job.leaseId) && job.claimedAt < sentAt && job.phase !== 'reporting') void job.stop('lost');
    }
    // A lease we do not know: a claim answered just as we aborted it. Hand it back rather than renew it forever;
    // not while a result is on its way, whose answer may bring a lease this heartbeat already lists.
    if (!this.claimAbort && ![...this.jobs.values()].some((job) => job.phase === 'reporting')) {
      for (const lease of answer.leases) {
        if (!this.jobs.has(lease.leaseId)) this.handBack(lease.leaseId, 'vacated');
      }
    }
  }

  private applyDirective(directive: LeaseDirective): void {
    const job = this.jobs.get(directive.leaseId);
    if (job) void job.stop(directive.reason);
    else if (directive.reason !== 'lost') this.handBack(directive.leaseId, 'vacated');
  }

  private handBack(leaseId: string, reason: 'vacated' | 'shutdown'): void {
    this.client.release(leaseId, reason).catch((err: Error) => this.logger.debug(`could not hand back lease ${leaseId}: ${err.message}`));
  }

  // ---- health ----

  /** This worker cannot run jobs (a full disk): the pool is told why, and nothing is claimed until it is fixed. */
  private problemFound(problem: string): void {
    if (problem === this.reportedProblem) return;
    this.logger.warn(`unhealthy, taking no jobs: ${problem}`);
    this.reportedProblem = problem;
    this.claimAbort?.abort();
    this.requestHeartbeat();
    this.emitStatus();
  }

  // ---- claims ----

  /**
   * Which jobs to claim now: null for none (stopping, suspended, every slot busy); while paused, only the
   * jobs pinned to this PC (its owner's "This PC" jobs still run when it does not contribute); without a
   * sandbox, only trusted submitters' jobs.
   */
  private claimFilter(freeing = 0): ClaimFilter | null {
    if (this.phase !== 'running' || this.suspended || this.jobs.size - freeing >= this.slots) return null;
    const trust = this.options.trust ?? [];
    return {
      ...(this.paused ? { onlyLabels: [hostLabel(this.name)] } : {}),
      ...(this.sandbox.kind === 'none' && !trust.includes('*') ? { onlySubmitters: trust } : {}),
    };
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    while (this.phase === 'running') {
      const only = this.claimFilter();
      if (!only || this.reconnecting) {
        await (this.reconnecting ?? this.claimAlarm.sleep(60_000));
        continue;
      }
      if (await this.health.check()) {
        this.problemFound(this.health.problem!);
        await this.claimAlarm.sleep(PROBLEM_CHECK_MS);
        continue;
      }
      if (this.reportedProblem) {
        this.logger.info('healthy again: taking jobs');
        this.reportedProblem = null;
        this.requestHeartbeat();
      }
      const abort = new AbortController();
      this.claimAbort = abort;
      try {
        const waitMs = this.options.claimWaitMs ?? 25_000;
        const claimed = await this.client.claim(this.workerId!, waitMs, abort.signal, only);
        failures = 0;
        this.setConnected(true);
        if (claimed) this.accept(claimed);
      } catch (err) {
        if (abort.signal.aborted) continue;
        if (removedFromPool(err)) {
          this.removed();
          continue;
        }
        if (identityRejected(err)) {
          await this.reconnect();
          continue;
        }
        if (isTransient(err)) this.setConnected(false);
        else this.logger.error(`claim refused: ${(err as Error).message}`);
        await this.claimAlarm.sleep(backoffDelay(failures++, this.backoff));
      } finally {
        this.claimAbort = null;
      }
    }
  }

  /** No job left: the control stream closes unless another job comes within the linger. */
  private idleControl(): void {
    this.lastJobEndedAt = Date.now();
    if (this.controlLinger) clearTimeout(this.controlLinger);
    this.controlLinger = setTimeout(() => this.control.refresh(), CONTROL_LINGER_MS + 10);
    this.controlLinger.unref();
  }

  private accept(claimed: ClaimResponse): void {
    // A retried completion answers the lease its lost answer handed out: run it once.
    if (this.jobs.has(claimed.lease.id)) return;
    for (const directive of claimed.stop) this.applyDirective(directive);
    const only = this.claimFilter();
    if (!only || !(only.onlyLabels ?? []).every((label) => claimed.job.spec.labels.includes(label))) {
      // Paused, suspended or stopping while the claim was on its way.
      this.handBack(claimed.lease.id, this.phase === 'running' ? 'vacated' : 'shutdown');
      return;
    }
    this.logger.info(`running job ${claimed.job.id}`, { name: claimed.job.name, attempt: claimed.job.attempt });
    const job = new JobExecution(
      claimed,
      {
        client: this.jobClient,
        logger: this.logger,
        cache: this.cache,
        jobsDir: this.dirs.jobs,
        sandbox: this.sandbox,
        limits: this.limits,
        allowNetwork: this.network,
        running: this.running,
        killGraceMs: this.killGraceMs,
        keepWorkspaces: this.options.keepWorkspaces ?? false,
        zipLimits: this.options.zipLimits ?? DEFAULT_ZIP_LIMITS,
        backoff: this.backoff,
        outputFlushMs: this.options.outputFlushMs ?? 100,
        maxOutputBufferBytes: this.options.maxOutputBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
        ...(this.options.maxOutputPausedMs !== undefined ? { maxOutputPausedMs: this.options.maxOutputPausedMs } : {}),
        onChange: () => this.emitStatus(),
        // The result asks for the job to take in its place, if there is one now (the claim loop does the waiting).
        nextClaim: () => {
          const only = this.reconnecting || this.reportedProblem || this.health.problem ? null : this.claimFilter(1);
          return only ? { waitMs: 0, ...only } : null;
        },
      },
    );
    this.jobs.set(job.leaseId, job);
    this.control.refresh();
    const cleanup = job.cleanedUp.finally(() => this.cleanups.delete(cleanup));
    this.cleanups.add(cleanup);
    this.emitStatus();
    void job.done.then(() => {
      this.jobs.delete(job.leaseId);
      if (job.next) this.accept(job.next);
      if (this.jobs.size === 0) this.idleControl();
      this.emitStatus();
      this.claimAlarm.wake();
    });
  }
}
