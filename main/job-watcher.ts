// "A desktop notification when one of my jobs finishes": follows the event stream of each job this PC's user
// submitted (the renderer names them through jobs:watch; at start-up, the unfinished ones from `mine=1`) and calls
// notify() once with the finished job. A matrix submission is one notification when its group ends
// (groups:watch): its jobs' streams are followed one after another, then the group's final record is announced.
import { isTerminal, type Job, type JobGroup, type JobState } from '../protocol/api';
import { ApiError, type ApiClient } from '../protocol/client';
export { finishedNotice, groupFinishedNotice } from '../protocol/notice';

export interface JobWatcherOptions {
  notify(job: Job): void;
  notifyGroup(group: JobGroup): void;
  logger: { warn(message: string): void };
  /** Pause before following a stream again after the coordinator could not be reached. */
  retryMs?: number;
}

const UNFINISHED: JobState[] = ['queued', 'leased', 'running', 'suspended'];

export class JobWatcher {
  /** By `job_…` or `group:<id>`: what is being followed, to stop it. */
  private readonly following = new Map<string, AbortController>();

  constructor(
    private readonly client: ApiClient,
    private readonly options: JobWatcherOptions,
  ) {}

  /** Follows `jobId` until it finishes (once, however often it is asked). */
  watch(jobId: string): void {
    this.start(jobId, async (signal) => {
      if (!(await this.untilEnded(jobId, signal))) return;
      const job = await this.retrying(`job ${jobId}`, signal, () => this.client.getJob(jobId));
      if (job) this.options.notify(job);
    });
  }

  /** Follows a matrix submission's jobs until the last one ends, then announces the group (once). */
  watchGroup(groupId: string): void {
    this.start(`group:${groupId}`, async (signal) => {
      const group = await this.retrying(`group ${groupId}`, signal, () => this.client.getGroup(groupId));
      if (!group) return;
      for (const job of group.jobs) {
        if (!isTerminal(job.state) && !(await this.untilEnded(job.id, signal))) return;
      }
      const ended = await this.retrying(`group ${groupId}`, signal, () => this.client.getGroup(groupId));
      if (ended) this.options.notifyGroup(ended);
    });
  }

  /** Follows every unfinished job the token submitted (after a restart of the app), a matrix's as its group. */
  async watchMine(): Promise<void> {
    const { jobs } = await this.client.listJobs({ mine: true, state: UNFINISHED, limit: 100 });
    for (const job of jobs) {
      if (job.groupId) this.watchGroup(job.groupId);
      else this.watch(job.id);
    }
  }

  get watching(): string[] {
    return [...this.following.keys()];
  }

  stopAll(): void {
    for (const abort of this.following.values()) abort.abort();
    this.following.clear();
  }

  private start(key: string, run: (signal: AbortSignal) => Promise<void>): void {
    if (this.following.has(key)) return;
    const abort = new AbortController();
    this.following.set(key, abort);
    void run(abort.signal).finally(() => {
      if (this.following.get(key) === abort) this.following.delete(key);
    });
  }

  /** Resolves true once the job is over (its stream said so), false when stopped or given up on. */
  private async untilEnded(jobId: string, signal: AbortSignal): Promise<boolean> {
    const ended = await this.retrying(`job ${jobId}`, signal, async () => {
      for await (const event of this.client.events(jobId, { signal })) {
        if (event.type === 'state' && isTerminal(event.data.state)) return true;
      }
      return true;
    });
    return ended === true;
  }

  /**
   * Runs `call` until it answers: again after a pause when the coordinator cannot be reached; null when stopped,
   * or when the coordinator refuses (4xx: gone, not ours), with a warning.
   */
  private async retrying<T>(what: string, signal: AbortSignal, call: () => Promise<T>): Promise<T | null> {
    const retryMs = this.options.retryMs ?? 5000;
    while (!signal.aborted) {
      try {
        return await call();
      } catch (err) {
        if (signal.aborted) return null;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          this.options.logger.warn(`stopped following ${what}: ${err.message}`);
          return null;
        }
        this.options.logger.warn(`lost ${what} (${(err as Error).message}); retrying`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
    return null;
  }
}
