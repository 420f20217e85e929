// One lease, from claim to result: a fresh workspace, the bundle (cached, checked, extracted), the commands,
// the artifacts, the result, and the workspace gone again. Stopping (cancel, timeout, lost lease, vacate,
// shutdown) kills the process tree and ends the lease the way that reason asks for.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { effectiveLimits, type Assignment, type ClaimResponse, type CompleteRequest, type JobLimits } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';
import { zipMatchingFiles } from './artifacts';
import { BundleIntegrityError, type BundleCache } from './bundle-cache';
import { LeaseReporter } from './lease-reporter';
import type { AgentLogger } from './logger';
import { JobRunner, type RunResult } from './runner';
import type { JobFolders, Sandbox } from './sandbox';
import type { RunningProcesses } from './sandbox/leftovers';
import type { BackoffOptions } from './timing';
import { extractZipSafely, ZipRejectedError, type ZipLimits } from './zip';

export type JobStopReason = 'cancelled' | 'timed_out' | 'lost' | 'vacated' | 'shutdown';
export type JobPhase = 'preparing' | 'running' | 'suspended' | 'stopping' | 'reporting';

export interface JobContext {
  client: ApiClient;
  logger: AgentLogger;
  cache: BundleCache;
  jobsDir: string;
  sandbox: Sandbox;
  /** The worker's limits; a job may ask for lower ones. */
  limits: JobLimits;
  /** Whether the owner lets jobs use the network (the coordinator gives `network: true` jobs only then). */
  allowNetwork: boolean;
  running: RunningProcesses;
  killGraceMs: number;
  keepWorkspaces: boolean;
  zipLimits: ZipLimits;
  backoff: BackoffOptions;
  outputFlushMs: number;
  maxOutputBufferBytes: number;
  /** How long a job's output may stay paused while the coordinator takes none (see LeaseReporterOptions.maxPausedMs). */
  maxOutputPausedMs?: number;
  /** Something in `phase` changed (the agent re-emits its status). */
  onChange: () => void;
  /** The next job to ask for with this one's result (null: none); read when the result is sent. */
  nextClaim: () => CompleteRequest['next'];
}

const MAX_ERROR_LENGTH = 4000;

export class JobExecution {
  readonly id: string;
  readonly name: string;
  readonly leaseId: string;
  readonly attempt: number;
  /** When the claim answered (ms since epoch); a heartbeat sent before it may not list this lease yet. */
  readonly claimedAt = Date.now();
  /** Resolves when the lease is finished with (result delivered, handed back, or dropped); never rejects. */
  readonly done: Promise<void>;
  /** Resolves after `done` once the workspace is gone (in the background: the next claim does not wait for it); never rejects. */
  readonly cleanedUp: Promise<void>;
  private phaseNow: JobPhase = 'preparing';
  private stopReason: JobStopReason | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private runner: JobRunner | null = null;
  private suspended = false;
  private readonly download = new AbortController();
  private readonly reporter: LeaseReporter;
  private readonly jobDir: string;

  constructor(
    private readonly assignment: Assignment,
    private readonly ctx: JobContext,
  ) {
    this.id = assignment.job.id;
    this.name = assignment.job.name;
    this.leaseId = assignment.lease.id;
    this.attempt = assignment.job.attempt;
    this.jobDir = path.join(ctx.jobsDir, `${this.id}.${this.attempt}`.replace(/[^A-Za-z0-9_.-]/g, '_'));
    this.reporter = new LeaseReporter({
      client: ctx.client,
      leaseId: this.leaseId,
      jobId: this.id,
      logger: ctx.logger,
      backoff: ctx.backoff,
      flushIntervalMs: ctx.outputFlushMs,
      maxBufferBytes: ctx.maxOutputBufferBytes,
      ...(ctx.maxOutputPausedMs !== undefined ? { maxPausedMs: ctx.maxOutputPausedMs } : {}),
      onBackpressure: (pause) => (pause ? this.runner?.pauseOutput() : this.runner?.resumeOutput()),
      onLeaseGone: () => void this.stop('lost'),
      secrets: Object.values(assignment.job.secrets ?? {}),
      nextClaim: ctx.nextClaim,
    });
    this.done = this.execute();
    this.cleanedUp = this.done.then(() => this.removeWorkspace());
  }

  get phase(): JobPhase {
    return this.phaseNow;
  }

  /** The job the coordinator handed out with this one's result, once `done` (null when none). */
  get next(): ClaimResponse | null {
    return this.reporter.next;
  }

  private setPhase(phase: JobPhase): void {
    this.phaseNow = phase;
    this.ctx.onChange();
  }

  private async execute(): Promise<void> {
    const timeoutMs = this.assignment.job.spec.timeoutSec * 1000 - (Date.now() - this.claimedAt);
    const timeout = setTimeout(() => void this.stop('timed_out'), Math.max(0, timeoutMs));
    const folders: JobFolders = {
      workspace: path.join(this.jobDir, 'workspace'),
      home: path.join(this.jobDir, 'home'),
      tmp: path.join(this.jobDir, 'tmp'),
    };
    try {
      await rm(this.jobDir, { recursive: true, force: true });
      // 0700: on a shared machine other users see nothing of a job (the sandbox shows each job only its own).
      for (const dir of Object.values(folders)) await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.fetchBundle(folders.workspace);
      let result: (RunResult & { durationMs: number }) | null = null;
      if (!this.stopReason) result = await this.runCommands(folders);
      this.reporter.endOutput();
      clearTimeout(timeout);
      await (this.stopReason || !result ? this.endStopped() : this.complete(result));
    } catch (err) {
      clearTimeout(timeout);
      await (this.stopReason ? this.endStopped() : this.fail(err as Error));
    } finally {
      clearTimeout(timeout);
    }
  }

  private async removeWorkspace(): Promise<void> {
    if (this.ctx.keepWorkspaces) this.ctx.logger.info(`kept the workspace of job ${this.id}`, { dir: path.join(this.jobDir, 'workspace') });
    else await rm(this.jobDir, { recursive: true, force: true }).catch(() => {});
  }

  private async fetchBundle(workspace: string): Promise<void> {
    const { bundle } = this.assignment.job;
    if (!bundle) return;
    await this.ctx.cache.with(
      bundle,
      () => this.ctx.client.downloadBundle(this.assignment, this.download.signal),
      (zipFile) => extractZipSafely(zipFile, workspace, this.ctx.zipLimits),
    );
  }

  private runCommands(folders: JobFolders): Promise<RunResult & { durationMs: number }> {
    const { spec } = this.assignment.job;
    this.runner = new JobRunner(
      { id: this.id, attempt: this.attempt, commands: spec.commands, shell: spec.shell, env: { ...spec.env, ...this.assignment.job.secrets }, continueOnError: spec.continueOnError },
      // A job that did not ask for the network gets none even where the owner allows it.
      { folders, network: this.ctx.allowNetwork && spec.network === true, limits: effectiveLimits(this.ctx.limits, spec.limits) },
      {
        commandStarted: (index) => this.reporter.commandStarted(index),
        output: (stream, data) => this.reporter.write(stream, data),
        commandEnded: (index, result) => this.reporter.commandEnded(index, result),
      },
      { killGraceMs: this.ctx.killGraceMs, sandbox: this.ctx.sandbox, jobDir: this.jobDir, running: this.ctx.running },
    );
    if (this.suspended) this.runner.suspend();
    this.setPhase(this.suspended ? 'suspended' : 'running');
    const clock = performance.now();
    return this.runner.run().then((result) => ({ ...result, durationMs: Math.round(performance.now() - clock) }));
  }

  private async complete(result: RunResult & { durationMs: number }): Promise<void> {
    this.setPhase('reporting');
    if (result.limitReached) {
      const request: CompleteRequest = { outcome: 'error', reason: 'limit_exceeded', error: `the job was stopped: ${result.limitReached}` };
      if (await this.reporter.complete(request, null)) this.ctx.logger.info(`job ${this.id} stopped: ${result.limitReached}`);
      return;
    }
    const outcome = result.succeeded ? 'succeeded' : 'failed';
    let artifacts: string | null;
    try {
      artifacts = await this.collectArtifacts();
    } catch (err) {
      // Never a silent success without the files it promised: the job fails saying why (a full disk also makes
      // this worker unhealthy and hands the job back, see health.ts).
      const error = `the job's outputs could not be saved: ${(err as Error).message}`.slice(0, MAX_ERROR_LENGTH);
      this.reporter.write('stderr', Buffer.from(`\n[cmd-executor: ${error}]\n`));
      this.reporter.endOutput();
      await this.reporter.complete({ outcome: 'error', reason: 'worker_error', error }, null);
      this.ctx.logger.warn(`job ${this.id}: ${error}`);
      return;
    }
    const delivered = await this.reporter.complete({ outcome, exitCode: result.exitCode, durationMs: result.durationMs }, artifacts);
    if (delivered) this.ctx.logger.info(`job ${this.id} ${outcome}`, { exitCode: result.exitCode, attempt: this.attempt });
  }

  private async collectArtifacts(): Promise<string | null> {
    const globs = this.assignment.job.spec.outputs;
    if (globs.length === 0) return null;
    const zip = path.join(this.jobDir, 'artifacts.zip');
    const summary = await zipMatchingFiles(path.join(this.jobDir, 'workspace'), globs, zip);
    return summary ? zip : null;
  }

  /** The job could not run at all: a refused bundle, a broken download, a workspace that cannot be made. */
  private async fail(err: Error): Promise<void> {
    this.setPhase('reporting');
    const request: CompleteRequest =
      err instanceof ZipRejectedError
        ? { outcome: 'error', reason: 'bundle_invalid', error: `the job's ZIP was refused: ${err.message}` }
        : {
            outcome: 'error',
            reason: 'worker_error',
            error: err instanceof BundleIntegrityError ? err.message : `the worker could not run the job: ${err.message}`,
          };
    request.error = request.error!.slice(0, MAX_ERROR_LENGTH);
    this.ctx.logger.warn(`job ${this.id} could not run: ${request.error}`);
    await this.reporter.complete(request, null);
  }

  private async endStopped(): Promise<void> {
    await this.stopping;
    const reason = this.stopReason!;
    this.setPhase('reporting');
    const { logger } = this.ctx;
    switch (reason) {
      case 'lost':
        this.reporter.abandon();
        logger.warn(`job ${this.id}: the coordinator gave its lease away; its result is dropped`, { lease: this.leaseId });
        return;
      case 'cancelled':
      case 'timed_out':
        if (await this.reporter.complete({ outcome: reason }, null)) logger.info(`job ${this.id} ${reason.replace('_', ' ')}`);
        return;
      case 'vacated':
      case 'shutdown':
        if (await this.reporter.release(reason)) logger.info(`job ${this.id} handed back to the queue (${reason})`);
        return;
    }
  }

  /**
   * Kills the job's process tree (polite signal, grace, hard kill) and ends the lease as `reason` asks.
   * The first reason wins, except that a lost lease overrides any other: nothing can be reported for it.
   */
  stop(reason: JobStopReason): Promise<void> {
    if (this.phaseNow === 'reporting' && reason !== 'lost') return this.stopping;
    if (this.stopReason && (this.stopReason === 'lost' || reason !== 'lost')) return this.stopping;
    const first = this.stopReason === null;
    this.stopReason = reason;
    if (reason === 'lost') this.reporter.abandon();
    // The coordinator takes no output after a cancel or timeout: none is sent from here on.
    if (reason === 'cancelled' || reason === 'timed_out') this.reporter.closeOutput();
    if (!first) return this.stopping;
    this.ctx.logger.info(`stopping job ${this.id}: ${reason.replace('_', ' ')}`);
    this.download.abort();
    if (this.phaseNow !== 'reporting') this.setPhase('stopping');
    this.stopping = this.runner?.stop().catch(() => {}) ?? Promise.resolve();
    return this.stopping;
  }

  /** Gives up delivering what is still queued (the agent is shutting down and cannot wait longer). */
  abandon(): void {
    this.reporter.abandon();
  }

  suspend(): void {
    if (this.suspended || this.stopReason || this.phaseNow === 'reporting') return;
    if (this.runner && !this.runner.suspend()) {
      this.ctx.logger.warn(`job ${this.id} cannot be suspended on this platform; it keeps running at idle priority`);
      return;
    }
    this.suspended = true;
    this.reporter.setState('suspended');
    if (this.runner) this.setPhase('suspended');
  }

  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.runner?.resume();
    if (this.stopReason || this.phaseNow === 'reporting') return;
    this.reporter.setState('running');
    if (this.runner) this.setPhase('running');
  }
}
