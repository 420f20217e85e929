// The one HTTP client of API v1, used by the agent, the CLIs and the renderer (fetch runs in all of them).
import {
  API_PREFIX,
  CONTROL_EVENTS,
  IDEMPOTENCY_KEY_HEADER,
  type LeaseDirective,
  type Assignment,
  type ClaimFilter,
  type ClaimResponse,
  type Caller,
  type CompleteRequest,
  type CompleteResponse,
  type ErrorBody,
  type HeartbeatResponse,
  type Job,
  type JobEvent,
  type JobGroup,
  type Submitted,
  type JobList,
  type JobSpec,
  type JobState,
  type OutputAck,
  type OutputStream,
  type PoolShare,
  type StreamChunk,
  type RegisterWorkerRequest,
  type RegisterWorkerResponse,
  type AuditPage,
  type CreatedInvite,
  type ReportedWorkerState,
  type SignInResponse,
  type PoolActivity,
  type PoolUsage,
  type UsageWindow,
  type Worker,
  type WorkerDetail,
} from './api';

/** An error answered by the coordinator (status + code), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * A fresh Idempotency-Key for one submit: a random (version 4) UUID, from getRandomValues, which a page served over
 * plain http has too (randomUUID needs a secure context).
 */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The headers of one submit: its key goes with every resend of it (the transport's), so it creates one job. */
export const submitHeaders = (key = newIdempotencyKey()): Record<string, string> => ({ [IDEMPOTENCY_KEY_HEADER]: key });

export interface ClientOptions {
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
}

export class ApiClient {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  /** fetch with auth; throws ApiError on a non-2xx answer or a network failure. */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), {
        ...init,
        headers: this.headers((init.headers as Record<string, string> | undefined) ?? {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'unreachable', `cannot reach ${this.baseUrl}: ${networkFailure(err, this.baseUrl)}`);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = { method, headers };
    if (signal) init.signal = signal;
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...headers, 'content-type': 'application/json' };
    }
    const response = await this.request(path, init);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** Exchanges the sign-in link's one-time code for an expiring session token. */
  signIn(code: string): Promise<SignInResponse> {
    return this.json<SignInResponse>('POST', `${API_PREFIX}/sessions`, { code });
  }

  /** Signs out: ends this client's session token on every coordinator (any other token is left as it is). */
  signOut(): Promise<void> {
    return this.json<void>('DELETE', `${API_PREFIX}/sessions`);
  }

  /** Who this token is to the pool: its name and role. */
  whoAmI(): Promise<Caller> {
    return this.json<{ me: Caller }>('GET', `${API_PREFIX}/me`).then((r) => r.me);
  }

  // ---- submitters ----

  // Each submit sends an Idempotency-Key of its own (`key` to give one): a resend of it never creates a second job.

  submitJob(spec: JobSpec, key?: string): Promise<Job> {
    return this.submit(spec, key).then((r) => r.job!);
  }

  /** A job, or with a matrix a group of jobs. */
  submit(spec: JobSpec, key?: string): Promise<Submitted> {
    return this.json<Submitted>('POST', `${API_PREFIX}/jobs`, spec, undefined, submitHeaders(key));
  }

  getGroup(id: string): Promise<JobGroup> {
    return this.json<{ group: JobGroup }>('GET', `${API_PREFIX}/groups/${encodeURIComponent(id)}`).then((r) => r.group);
  }

  /** Cancels every job of the group that has not ended. */
  cancelGroup(id: string): Promise<JobGroup> {
    return this.json<{ group: JobGroup }>('POST', `${API_PREFIX}/groups/${encodeURIComponent(id)}/cancel`).then((r) => r.group);
  }

  /** Multipart submit: `bundle` is a ZIP (Blob/File); returns the created job. */
  async submitJobWithBundle(spec: JobSpec, bundle: Blob, filename = 'bundle.zip', key?: string): Promise<Job> {
    const form = new FormData();
    form.append('spec', JSON.stringify(spec));
    form.append('bundle', bundle, filename);
    const response = await this.request(`${API_PREFIX}/jobs`, { method: 'POST', body: form, headers: submitHeaders(key) });
    return ((await response.json()) as { job: Job }).job;
  }

  getJob(id: string): Promise<Job> {
    return this.json<{ job: Job }>('GET', `${API_PREFIX}/jobs/${encodeURIComponent(id)}`).then((r) => r.job);
  }

  listJobs(query: { state?: JobState[]; limit?: number; cursor?: string; mine?: boolean; group?: string } = {}): Promise<JobList> {
    const params = new URLSearchParams();
    if (query.group) params.set('group', query.group);
    if (query.state?.length) params.set('state', query.state.join(','));
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    if (query.mine) params.set('mine', '1');
    const qs = params.toString();
    return this.json<JobList>('GET', `${API_PREFIX}/jobs${qs ? `?${qs}` : ''}`);
  }

  /** Each person's recent use of the pool (fair share), most first. */
  poolShares(): Promise<PoolShare[]> {
    return this.json<{ shares: PoolShare[] }>('GET', `${API_PREFIX}/jobs/shares`).then((r) => r.shares);
  }

  cancelJob(id: string): Promise<Job> {
    return this.json<{ job: Job }>('POST', `${API_PREFIX}/jobs/${encodeURIComponent(id)}/cancel`).then((r) => r.job);
  }

  /** Submits the job again: same spec, same ZIP. */
  rerunJob(id: string): Promise<Job> {
    return this.json<{ job: Job }>('POST', `${API_PREFIX}/jobs/${encodeURIComponent(id)}/rerun`).then((r) => r.job);
  }

  async getLog(id: string): Promise<string> {
    return (await this.request(`${API_PREFIX}/jobs/${encodeURIComponent(id)}/log`)).text();
  }

  // ---- admins ----

  /** An enrollment code for a new worker, with the command to run there. */
  createInvite(options: { uses?: number; expiresInSec?: number } = {}): Promise<CreatedInvite> {
    return this.json<CreatedInvite>('POST', `${API_PREFIX}/invites`, options);
  }

  /** `action`: pause (no new jobs), resume, or drain (leave the pool once idle). */
  setWorkerState(workerId: string, action: 'pause' | 'resume' | 'drain'): Promise<Worker> {
    return this.json<{ worker: Worker }>('POST', `${API_PREFIX}/workers/${encodeURIComponent(workerId)}/${action}`).then((r) => r.worker);
  }

  /** The audit log, newest first. */
  listAudit(query: { actor?: string; action?: string; since?: string; until?: string; cursor?: string; limit?: number } = {}): Promise<AuditPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
    const qs = params.toString();
    return this.json<AuditPage>('GET', `${API_PREFIX}/audit${qs ? `?${qs}` : ''}`);
  }

  getWorker(id: string): Promise<WorkerDetail> {
    return this.json<WorkerDetail>('GET', `${API_PREFIX}/workers/${encodeURIComponent(id)}`);
  }

  /** CPU-hours per PC and per person over the last day or week. */
  getUsage(window: UsageWindow = 'week'): Promise<PoolUsage> {
    return this.json<{ usage: PoolUsage }>('GET', `${API_PREFIX}/usage?window=${window}`).then((r) => r.usage);
  }

  /** Queued and running jobs over the last hours. */
  getActivity(): Promise<PoolActivity> {
    return this.json<{ activity: PoolActivity }>('GET', `${API_PREFIX}/usage/activity`).then((r) => r.activity);
  }

  listWorkers(): Promise<Worker[]> {
    return this.json<{ workers: Worker[] }>('GET', `${API_PREFIX}/workers`).then((r) => r.workers);
  }

  /**
   * Follows a job's event stream until the job reaches a terminal state (or `signal` aborts),
   * resuming after `afterId` on reconnect so nothing is lost or seen twice.
   */
  async *events(id: string, options: { afterId?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    let lastId = options.afterId ?? 0;
    for (;;) {
      const init: RequestInit = { headers: { 'last-event-id': String(lastId), accept: 'text/event-stream' } };
      if (options.signal) init.signal = options.signal;
      const response = await this.request(`${API_PREFIX}/jobs/${encodeURIComponent(id)}/events`, init);
      let ended = false;
      try {
        for await (const event of parseEventStream(response)) {
          lastId = event.id;
          yield event;
          if (event.type === 'state' && ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(event.data.state)) {
            ended = true;
          }
        }
      } catch (err) {
        // A stream cut mid-way (the coordinator was killed, the network dropped) is a network failure like
        // any other, which callers retry; not a bare "terminated".
        if ((err as Error).name === 'AbortError' || err instanceof ApiError || err instanceof SyntaxError) throw err;
        throw new ApiError(0, 'unreachable', `lost the connection to ${this.baseUrl}: ${networkFailure(err, this.baseUrl)}`);
      }
      if (ended) return;
    }
  }

  // ---- workers (agent side) ----

  registerWorker(request: RegisterWorkerRequest): Promise<RegisterWorkerResponse> {
    return this.json<RegisterWorkerResponse>('POST', `${API_PREFIX}/workers`, request);
  }

  heartbeat(workerId: string, state?: ReportedWorkerState, problem?: string | null): Promise<HeartbeatResponse> {
    return this.json<HeartbeatResponse>(
      'POST',
      `${API_PREFIX}/workers/${encodeURIComponent(workerId)}/heartbeat`,
      { ...(state ? { state } : {}), ...(problem !== undefined ? { problem } : {}) },
    );
  }

  /** Long poll: resolves with an assignment, or null when `waitMs` passed with nothing to do. */
  async claim(
    workerId: string,
    waitMs: number,
    signal?: AbortSignal,
    filter: ClaimFilter = {},
  ): Promise<ClaimResponse | null> {
    const result = await this.json<ClaimResponse | undefined>(
      'POST',
      `${API_PREFIX}/workers/${encodeURIComponent(workerId)}/claim`,
      { waitMs, ...filter },
      signal,
    );
    return result ?? null;
  }

  /**
   * The worker's control stream: yields each stop the coordinator records for its leases, those it may have
   * missed first. Ends when the coordinator closes it; throws ApiError when it cannot be opened or is cut.
   */
  async *control(workerId: string, signal: AbortSignal): AsyncGenerator<LeaseDirective> {
    const response = await this.request(`${API_PREFIX}/workers/${encodeURIComponent(workerId)}/control`, {
      headers: { accept: 'text/event-stream' },
      signal,
    });
    try {
      // The parser is the job stream's: only the event's type and JSON data are read here.
      for await (const event of parseEventStream(response) as AsyncGenerator<{ type: string; data: unknown }>) {
        if (event.type === CONTROL_EVENTS.stop) yield event.data as LeaseDirective;
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError' || err instanceof SyntaxError) throw err;
      throw new ApiError(0, 'unreachable', `lost the control stream from ${this.baseUrl}: ${networkFailure(err, this.baseUrl)}`);
    }
  }

  deregisterWorker(workerId: string): Promise<void> {
    return this.json<void>('DELETE', `${API_PREFIX}/workers/${encodeURIComponent(workerId)}`);
  }

  async downloadBundle(assignment: Assignment, signal?: AbortSignal): Promise<Response> {
    if (!assignment.bundleUrl) throw new Error('this job has no bundle');
    const init: RequestInit = {};
    if (signal) init.signal = signal;
    return this.request(assignment.bundleUrl, init);
  }

  private leasePath(leaseId: string, rest: string): string {
    return `${API_PREFIX}/leases/${encodeURIComponent(leaseId)}/${rest}`;
  }

  setLeaseState(leaseId: string, state: 'running' | 'suspended'): Promise<void> {
    return this.json<void>('POST', this.leasePath(leaseId, 'state'), { state });
  }

  /** Sends the next part of the lease's numbered stream: output and command records. */
  sendOutput(leaseId: string, chunks: StreamChunk[]): Promise<OutputAck> {
    return this.json<OutputAck>('POST', this.leasePath(leaseId, 'output'), { chunks });
  }

  /**
   * A run of output chunks of one stream as raw bytes, streamed from `chunks` (each one numbered chunk, from
   * `seq`): no JSON on either side. The answer is how far the coordinator committed, which may stop short of the
   * run's end if the upload was cut; `outputPosition` says the same without sending anything.
   */
  async sendOutputBytes(leaseId: string, run: { seq: number; stream: OutputStream; chunks: readonly Uint8Array[] }): Promise<OutputAck> {
    const query = new URLSearchParams({ seq: String(run.seq), stream: run.stream, sizes: run.chunks.map((c) => c.length).join(',') });
    let next = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = run.chunks[next++];
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const init = { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit;
    const response = await this.request(`${this.leasePath(leaseId, 'output/bytes')}?${query}`, init);
    return (await response.json()) as OutputAck;
  }

  /** The lease's committed position in its numbered stream: where a cut upload resumes. */
  outputPosition(leaseId: string): Promise<OutputAck> {
    return this.json<OutputAck>('GET', this.leasePath(leaseId, 'output'));
  }

  /** Protocol v1 before command records (kept for one release): agents now send them in the stream. */
  commandStart(leaseId: string, index: number): Promise<void> {
    return this.json<void>('POST', this.leasePath(leaseId, `commands/${index}/start`), {});
  }

  /** Protocol v1 before command records (kept for one release): agents now send them in the stream. */
  commandEnd(
    leaseId: string,
    index: number,
    result: { exitCode: number | null; signal: string | null; durationMs: number },
  ): Promise<void> {
    return this.json<void>('POST', this.leasePath(leaseId, `commands/${index}/end`), result);
  }

  /** Completes the lease (the call of protocol v1 before `next`); answers the whole job. */
  async complete(leaseId: string, result: Omit<CompleteRequest, 'next'>, artifacts?: Blob): Promise<Job> {
    return (await this.postCompletion<{ job: Job }>(leaseId, result, artifacts)).job;
  }

  /**
   * Completes the lease with the rest of its stream (`result.output`) and asks for the next job in the same call
   * (`result.next`, null for none): the answer is the job's id and state and the next assignment, or null.
   */
  completeAndClaim(leaseId: string, result: CompleteRequest & Required<Pick<CompleteRequest, 'next'>>, artifacts?: Blob, signal?: AbortSignal): Promise<CompleteResponse> {
    return this.postCompletion<CompleteResponse>(leaseId, result, artifacts, signal);
  }

  /** `artifacts` (a ZIP) goes up as multipart beside the result. */
  private async postCompletion<T>(leaseId: string, result: CompleteRequest, artifacts?: Blob, signal?: AbortSignal): Promise<T> {
    if (!artifacts) return this.json<T>('POST', this.leasePath(leaseId, 'complete'), result, signal);
    const form = new FormData();
    form.append('result', JSON.stringify(result));
    form.append('artifacts', artifacts, 'artifacts.zip');
    const response = await this.request(this.leasePath(leaseId, 'complete'), { method: 'POST', body: form, ...(signal ? { signal } : {}) });
    return (await response.json()) as T;
  }

  release(leaseId: string, reason: 'vacated' | 'shutdown'): Promise<void> {
    return this.json<void>('POST', this.leasePath(leaseId, 'release'), { reason });
  }
}

/** What went wrong under fetch's "fetch failed" / "terminated": the cause is the part a person can act on. */
export function networkFailure(err: unknown, baseUrl: string): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  const cause = error.cause;
  // OpenSSL's messages are a dump of its internals; its code (ERR_SSL_WRONG_VERSION_NUMBER) reads better.
  const detail = cause?.code && /routines:/.test(cause.message ?? '') ? cause.code : cause?.message || cause?.code;
  const described = detail && detail !== error.message ? `${error.message} (${detail})` : error.message;
  if (baseUrl.startsWith('https:') && /SSL|TLS|wrong version number|packet length/i.test(`${cause?.code} ${cause?.message}`)) {
    return `${described}: is it an http:// server?`;
  }
  return described;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as Partial<ErrorBody>;
    if (body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

/**
 * Parses a text/event-stream body into JobEvents (only `id`, `event` and `data` fields are used). Output frames
 * are big (up to 256 KiB): each byte is scanned once for the blank line ending a frame, and a frame's fields are
 * read where they lie, without splitting it into copies.
 */
export async function* parseEventStream(response: Response): AsyncGenerator<JobEvent> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      // What was already scanned holds no blank line, except one whose first newline ended the last read.
      let from = Math.max(0, buffer.length - 1);
      buffer += decoder.decode(value, { stream: true });
      let start = 0;
      for (let boundary: number; (boundary = buffer.indexOf('\n\n', from)) >= 0; from = start = boundary + 2) {
        const event = parseFrame(buffer, start, boundary);
        if (event) yield event;
      }
      if (start > 0) buffer = buffer.slice(start);
    }
  } finally {
    // Also when the consumer stops early: closes the connection instead of leaving it to the GC.
    await reader.cancel().catch(() => undefined);
  }
}

/** One frame, `text[start, end)`: its id, event name and data lines (joined by newlines, as SSE says). */
function parseFrame(text: string, start: number, end: number): JobEvent | undefined {
  let id = 0;
  let type = 'message';
  let data: string | undefined;
  for (let line = start; line < end; ) {
    const newline = text.indexOf('\n', line);
    const lineEnd = newline < 0 || newline > end ? end : newline;
    const value = (skip: number) => text.slice(text.charCodeAt(line + skip) === 32 ? line + skip + 1 : line + skip, lineEnd);
    if (text.startsWith('data:', line)) data = data === undefined ? value(5) : `${data}\n${value(5)}`;
    else if (text.startsWith('id:', line)) id = Number(value(3).trim());
    else if (text.startsWith('event:', line)) type = value(6).trim();
    line = lineEnd + 1;
  }
  if (data === undefined) return undefined;
  return { id, type, data: JSON.parse(data) } as JobEvent;
}
