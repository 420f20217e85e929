// Everything the agent tells the coordinator about one lease, delivered in order and in the background: the
// numbered stream (output chunks and command start/end records), suspended/running, and finally the result (or
// the hand-back). The stream goes out every flush interval (the first one an interval after the job starts, so
// a job that ends sooner sends it all with its result), and the result carries what is left of it and asks for
// the next job in the same request. The job
// never waits for the network: steps queue here and are retried with backoff while the coordinator is
// unreachable, until they are delivered or the coordinator says the lease is gone (409), which ends the job.
// Output is the exception to "never waits": past half its buffer the reporter asks for the child's pipes to be
// paused until the coordinator catches up, so a chatty job slows down instead of losing output; only if the
// coordinator takes nothing for `maxPausedMs` does the job run on and output past the cap get dropped.
import { openAsBlob } from 'node:fs';
import { isOutputData, LIMITS, OUTPUT_CLOSED, SEQ_GAP, type ClaimResponse, type CompleteRequest, type OutputStream, type StreamChunk } from '../../protocol/api';
import { ApiError, type ApiClient } from '../../protocol/client';
import { maskSecretBytes, maskSecrets } from '../../protocol/secrets';
import type { AgentLogger } from './logger';
import { DEFAULT_MAX_BUFFER_BYTES, DEFAULT_MAX_CHUNK_BYTES, OutputBuffer, type OutputRun } from './output';
import type { CommandEnd } from './runner';
import { Alarm, backoffDelay, isTransient, type BackoffOptions } from './timing';

export interface LeaseReporterOptions {
  client: ApiClient;
  leaseId: string;
  jobId: string;
  logger: AgentLogger;
  backoff: BackoffOptions;
  /** The coordinator no longer takes reports for this lease: stop the job and drop its result. */
  onLeaseGone: (why: string) => void;
  /** true: stop reading the job's output pipes (the buffer is filling up); false: read them again. */
  onBackpressure?: (pause: boolean) => void;
  flushIntervalMs?: number;
  maxChunkBytes?: number;
  maxBufferBytes?: number;
  /** How long the pipes may stay paused while the coordinator takes nothing, before output is dropped instead; default 30000. */
  maxPausedMs?: number;
  /** The job's secret values: masked in its output before it leaves this machine. */
  secrets?: readonly string[];
  /** What the result asks for as the next job, read when it is sent (null: none, the agent is not taking one). */
  nextClaim?: () => CompleteRequest['next'];
}

/**
 * JSON-encoded output per request: the coordinator's body limit is 1 MiB; the margin covers the envelope and
 * rounding. A chunk's data is far below LIMITS.outputChunkBytes (see MAX_CHUNK_BYTES).
 */
const MAX_OUTPUT_JSON_BYTES_PER_REQUEST = 900 * 1024;
/** Escaping (`\u0001` for one control byte) grows output at most 6×: even the worst chunk fits in one request. */
const MAX_CHUNK_BYTES = Math.floor(MAX_OUTPUT_JSON_BYTES_PER_REQUEST / 6);
const DEFAULT_MAX_PAUSED_MS = 30_000;
/**
 * A run of output of one stream at least this large goes as raw bytes (no JSON on either side); smaller batches
 * and command records go as JSON, where one request carries several streams and records.
 */
const RAW_UPLOAD_MIN_BYTES = 64 * 1024;
/**
 * Raw bytes per upload: small against the buffer, so acknowledgements come back (and make room) while the job
 * keeps printing, instead of its pipes pausing for each big upload.
 */
const MAX_RAW_UPLOAD_BYTES = 2 * 1024 * 1024;
/** Output waiting that is worth an upload at once, before the flush interval: half an upload, so each request carries a lot. */
const RAW_UPLOAD_DUE_BYTES = MAX_RAW_UPLOAD_BYTES / 2;

interface Step {
  label: string;
  /** The stream cut before this step was queued (seq below `mark`) is delivered before it, or with it. */
  mark: number;
  /** Takes the rest of the stream below `mark` along (the result), when it fits in the one request. */
  carriesOutput: boolean;
  call: (carried: StreamChunk[]) => Promise<unknown>;
  settle: (delivered: boolean) => void;
}

/** The coordinator answers these when the lease (or this worker) is not valid any more. */
function leaseIsGone(err: unknown): err is ApiError {
  return err instanceof ApiError && (err.code === 'stale_lease' || err.status === 404 || err.status === 401 || err.status === 403);
}

export class LeaseReporter {
  private readonly output: OutputBuffer;
  private readonly steps: Step[] = [];
  private readonly alarm = new Alarm();
  private readonly flushIntervalMs: number;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Starts as the job starts: the first cut comes a flush interval later. */
  private lastFlushAt = Date.now();
  /** The stream cut so far is to go now (a timed flush, or a whole chunk of output waiting). */
  private outputDue = false;
  /** The next job the coordinator handed out with the result, if it was asked for one. */
  private handedOut: ClaimResponse | null = null;
  private pumping = false;
  private failures = 0;
  private ended: 'gone' | 'abandoned' | null = null;
  /** The job was stopped (cancel, timeout): its output is no longer taken, the other steps still are. */
  private outputClosed = false;
  /** Held output at which the pipes are paused, and below which they are read again. */
  private readonly pauseAtBytes: number;
  private readonly resumeBelowBytes: number;
  private paused = false;
  /** Ends a pause the coordinator did not relieve in time; while it has fired, output past the cap is dropped. */
  private pauseTimer: NodeJS.Timeout | null = null;
  private pauseGaveUp = false;
  /** A raw upload failed part way: ask the coordinator what it committed before sending more. */
  private resumeFromCommitted = false;

  constructor(private readonly options: LeaseReporterOptions) {
    const maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.output = new OutputBuffer({ maxChunkBytes: Math.min(options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES, MAX_CHUNK_BYTES), maxBufferBytes });
    // Pausing at half the cap leaves the other half for what paused pipes still deliver (the read under way,
    // and what Node drains from a pipe when its command exits), so nothing is dropped.
    this.pauseAtBytes = Math.floor(maxBufferBytes / 2);
    this.resumeBelowBytes = Math.floor(maxBufferBytes / 4);
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
  }

  get leaseGone(): boolean {
    return this.ended === 'gone';
  }

  /** The job the coordinator handed out with this lease's result (null when none was asked for or none fit). */
  get next(): ClaimResponse | null {
    return this.handedOut;
  }

  write(stream: OutputStream, data: Buffer): void {
    if (this.ended || this.outputClosed) return;
    this.output.write(stream, data);
    if (this.output.held >= this.pauseAtBytes && !this.paused && !this.pauseGaveUp) this.pause();
    // Paused pipes write nothing more, so nothing else would send what they left: it goes at once, as does a
    // whole upload's worth; anything else cut or open waits for the timed flush.
    if (this.paused || this.output.waitingBytes >= RAW_UPLOAD_DUE_BYTES) {
      this.outputDue = true;
      this.pump();
    }
    if (this.output.hasOpenChunk || this.output.waitingBytes > 0) this.flushLater();
  }

  private flushLater(): void {
    if (this.flushTimer) return;
    // At most one timed cut per interval, and the first output after a quiet spell goes at once: a prompt line
    // for the person watching, batches for a chatty job.
    const wait = Math.max(0, this.lastFlushAt + this.flushIntervalMs - Date.now());
    this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  private pause(): void {
    this.paused = true;
    this.pauseTimer = setTimeout(() => {
      this.options.logger.warn(
        `the coordinator took no output for ${this.maxPausedMs / 1000} s; the job runs on and output past the buffer is dropped`,
        { job: this.options.jobId },
      );
      this.pauseGaveUp = true;
      this.unpause();
    }, this.maxPausedMs);
    this.options.onBackpressure?.(true);
  }

  private unpause(): void {
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    if (!this.paused) return;
    this.paused = false;
    this.options.onBackpressure?.(false);
  }

  private get maxPausedMs(): number {
    return this.options.maxPausedMs ?? DEFAULT_MAX_PAUSED_MS;
  }

  /** The coordinator took output: read the pipes again once there is room, and pause them again next time. */
  private relieved(): void {
    if (this.output.held >= this.resumeBelowBytes) return;
    this.pauseGaveUp = false;
    this.unpause();
  }

  private flush(): void {
    this.flushTimer = null;
    this.lastFlushAt = Date.now();
    this.output.cut();
    this.outputDue = true;
    this.pump();
  }

  /** The job's streams are done: what is left of a split character, or a drop marker, goes with the result. */
  endOutput(): void {
    if (!this.outputClosed) this.output.end();
    this.pump();
  }

  /**
   * The job was cancelled or timed out: the coordinator takes no more of its output, so what is held is
   * dropped and nothing more is sent. Command records and the result still go.
   */
  closeOutput(): void {
    if (this.outputClosed) return;
    this.outputClosed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.output.cut();
    this.output.ack(this.output.cutSeq);
    this.unpause();
  }

  commandStarted(index: number): void {
    this.record({ phase: 'start', index });
  }

  commandEnded(index: number, result: CommandEnd): void {
    this.record({ phase: 'end', index, exitCode: result.exitCode, signal: result.signal, durationMs: result.durationMs });
  }

  /** Command records go in the numbered stream, with the output around them: no request of their own. */
  private record(command: Parameters<OutputBuffer['record']>[0]): void {
    if (this.ended) return;
    this.output.record(command);
    this.flushLater();
  }

  setState(state: 'running' | 'suspended'): void {
    void this.enqueue(`state ${state}`, () => this.options.client.setLeaseState(this.options.leaseId, state));
  }

  /**
   * Delivers the result, with the artifacts ZIP when there is one. Resolves true once the coordinator has
   * it, false when the lease is gone (or the reporter was abandoned). Artifacts over the coordinator's upload
   * limit cannot be kept: the job then fails saying so (in its error and its output), never `succeeded`
   * without the files it was asked to bring back.
   */
  complete(result: CompleteRequest, artifactsZip: string | null): Promise<boolean> {
    const { client, leaseId } = this.options;
    let withArtifacts = artifactsZip;
    let request = result;
    const send = async (output: StreamChunk[]) => {
      const full = { ...request, ...(output.length ? { output } : {}), next: this.options.nextClaim?.() ?? null };
      const answer = await client.completeAndClaim(leaseId, full, withArtifacts ? await openAsBlob(withArtifacts) : undefined);
      this.handedOut = answer.next;
    };
    return this.enqueue(
      `result ${result.outcome}`,
      async (output) => {
        if (!withArtifacts) return send(output);
        try {
          return await send(output);
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 413) throw err;
          withArtifacts = null;
          const error = `the commands ended (${result.outcome}) but the output artifacts could not be saved: ${err.message}`;
          request = { outcome: 'error', reason: 'worker_error', error, ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}) };
          this.options.logger.warn('artifacts are over the coordinator upload limit; the job fails without them', {
            job: this.options.jobId,
          });
          this.output.write('stderr', Buffer.from(`\n[cmd-executor: output artifacts not kept: ${err.message}]\n`));
          this.output.end();
          throw new RetryAfterOutput();
        }
      },
      true,
    );
  }

  /** Hands the job back to the queue (not a failed attempt). */
  release(reason: 'vacated' | 'shutdown'): Promise<boolean> {
    return this.enqueue(`release (${reason})`, () => this.options.client.release(this.options.leaseId, reason));
  }

  /** Stops delivering; what is still queued is dropped (the job was lost, or the agent gives up on shutdown). */
  abandon(): void {
    this.finish('abandoned');
  }

  private finish(how: 'gone' | 'abandoned'): void {
    if (this.ended) return;
    this.ended = how;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.unpause(); // nothing is delivered any more: the job's output flows (into nowhere) so it can end
    for (const step of this.steps.splice(0)) step.settle(false);
    this.alarm.wake();
  }

  private enqueue(label: string, call: (carried: StreamChunk[]) => Promise<unknown>, carriesOutput = false): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    this.output.cut();
    return new Promise((settle) => {
      this.steps.push({ label, mark: this.output.cutSeq, carriesOutput, call, settle });
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping || this.ended) return;
    this.pumping = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    // The flag drops in the same tick the loop sees nothing left to do: a step queued after that starts a new drain.
    try {
      while (!this.ended) {
        const step = this.steps[0];
        // The stream before the next step (all of it without one) goes first, unless the step takes it along.
        const before = step?.mark ?? this.output.cutSeq;
        const carried = step?.carriesOutput ? this.carriable(before) : null;
        // Stopped: the output held was dropped, and what follows (command records) rides on the result.
        if (!this.outputClosed && this.output.unackedSeq < before && !carried && (step || this.outputDue)) {
          await this.attempt('output', () => this.sendOutput(before));
        } else if (step) {
          const outcome = await this.attempt(step.label, () => step.call(carried ?? []));
          if (outcome === 'retry') {
            step.mark = this.output.cutSeq; // a step that added output (see complete) sends it first
          } else if (!this.ended) {
            if (outcome === 'delivered' && carried) this.output.ack(step.mark);
            this.steps.shift();
            step.settle(outcome === 'delivered');
          }
        } else {
          this.outputDue = false;
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** The stream below `beforeSeq` as one request can carry it (masked), or null when it needs requests of its own first. */
  private carriable(beforeSeq: number): StreamChunk[] | null {
    const chunks = this.output.take(LIMITS.chunksPerCall, MAX_OUTPUT_JSON_BYTES_PER_REQUEST, beforeSeq);
    const reaches = chunks.length === 0 ? this.output.unackedSeq >= beforeSeq : chunks.at(-1)!.seq === beforeSeq - 1;
    return reaches ? this.masked(chunks) : null;
  }

  private masked(chunks: StreamChunk[]): StreamChunk[] {
    const secrets = this.options.secrets ?? [];
    if (!secrets.length) return chunks;
    return chunks.map((chunk) => (isOutputData(chunk) ? { ...chunk, data: maskSecrets(chunk.data, secrets) } : chunk));
  }

  private async sendOutput(beforeSeq: number): Promise<void> {
    const { client, leaseId } = this.options;
    if (this.resumeFromCommitted) {
      // The node that took the cut upload (or the next one, on failover) says how much of it is committed.
      this.acknowledged((await client.outputPosition(leaseId)).nextSeq);
      this.resumeFromCommitted = false;
      if (this.output.unackedSeq >= beforeSeq) return;
    }
    const run = this.output.takeRun(LIMITS.chunksPerCall, MAX_RAW_UPLOAD_BYTES, beforeSeq);
    if (run && run.bytes >= RAW_UPLOAD_MIN_BYTES) {
      try {
        this.acknowledged((await client.sendOutputBytes(leaseId, this.maskedRun(run))).nextSeq);
      } catch (err) {
        this.resumeFromCommitted = true;
        throw err;
      }
      return;
    }
    const chunks = this.masked(this.output.take(LIMITS.chunksPerCall, MAX_OUTPUT_JSON_BYTES_PER_REQUEST, beforeSeq));
    this.acknowledged((await client.sendOutput(leaseId, chunks)).nextSeq);
  }

  private acknowledged(nextSeq: number): void {
    this.output.ack(nextSeq);
    this.relieved();
  }

  private maskedRun(run: OutputRun): OutputRun {
    const secrets = this.options.secrets ?? [];
    return secrets.length ? { ...run, chunks: run.chunks.map((chunk) => maskSecretBytes(chunk, secrets)) } : run;
  }

  /** One try of one call: delivered, to be retried (after a pause), or refused for good. */
  private async attempt(label: string, call: () => Promise<unknown>): Promise<'delivered' | 'retry' | 'refused'> {
    const { logger, jobId, leaseId } = this.options;
    try {
      await call();
      if (this.failures > 0) logger.info('coordinator reachable again; delivering what waited', { job: jobId });
      this.failures = 0;
      return 'delivered';
    } catch (err) {
      if (err instanceof RetryAfterOutput) return 'retry';
      const message = (err as Error).message;
      if (leaseIsGone(err)) {
        logger.warn(`the coordinator refused the ${label}: ${message}; dropping this job's result`, { job: jobId, lease: leaseId });
        this.finish('gone');
        this.options.onLeaseGone(message);
        return 'refused';
      }
      // Output that does not follow what is committed (a cut upload's batch committed meanwhile): resend from there.
      if (err instanceof ApiError && err.code === SEQ_GAP && label === 'output') {
        this.resumeFromCommitted = true;
        await this.alarm.sleep(backoffDelay(this.failures++, this.options.backoff));
        return 'retry';
      }
      if (err instanceof ApiError && err.code === OUTPUT_CLOSED) {
        logger.info('the job was stopped; its remaining output is dropped', { job: jobId });
        this.closeOutput();
        return 'refused';
      }
      if (isTransient(err)) {
        if (this.failures === 0) logger.warn(`could not deliver the ${label}; retrying: ${message}`, { job: jobId });
        await this.alarm.sleep(backoffDelay(this.failures++, this.options.backoff));
        return 'retry';
      }
      // A request the coordinator will never accept (our bug, or a newer coordinator): skip it, keep the rest;
      // except output, whose numbering cannot go on past a hole.
      logger.error(`the coordinator rejected the ${label}: ${message}`, { job: jobId });
      if (label === 'output') {
        this.finish('gone');
        this.options.onLeaseGone(message);
      }
      return 'refused';
    }
  }
}

/** Thrown by a step that queued output of its own and wants it delivered before it is tried again. */
class RetryAfterOutput extends Error {}
