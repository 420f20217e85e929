// "A desktop notification when one of my jobs finishes": follows the event stream of each job this PC's user
// submitted (the renderer names them through jobs:watch; at start-up, the unfinished ones from `mine=1`) and calls
// notify() once with the finished job.
import { isTerminal, type Job, type JobState } from '../protocol/api';
import { ApiError, type ApiClient } from '../protocol/client';
export { finishedNotice } from '../protocol/notice';

export interface JobWatcherOptions {
  notify(job: Job): void;
  logger: { warn(message: string): void };
  /** Pause before following a stream again after the coordinator could not be reached. */
  retryMs?: number;
}

const UNFINISHED: JobState[] = ['queued', 'leased', 'running', 'suspended'];

export class JobWatcher {
  private readonly following = new Map<string, AbortController>();

  constructor(
    private readonly client: ApiClient,
    private readonly options: JobWatcherOptions,
  ) {}

  /** Follows `jobId` until it finishes (once, however often it is asked). */
  watch(jobId: string): void {
    if (this.following.has(jobId)) return;
    const abort = new AbortController();
    this.following.set(jobId, abort);
    void this.follow(jobId, abort.signal).finally(() => {
      if (this.following.get(jobId) === abort) this.following.delete(jobId);
    });
  }

  /** Follows every unfinished job the token submitted (after a restart of the app). */
  async watchMine(): Promise<void> {
    const { jobs } = await this.client.listJobs({ mine: true, state: UNFINISHED, limit: 100 });
    for (const job of jobs) this.watch(job.id);
  }

  get watching(): string[] {
    return [...this.following.keys()];
  }

  stopAll(): void {
    for (const abort of this.following.values()) abort.abort();
    this.following.clear();
  }

  private async follow(jobId: string, signal: AbortSignal): Promise<void> {
    const retryMs = this.options.retryMs ?? 5000;
    while (!signal.aborted) {
      try {
        for await (const event of this.client.events(jobId, { signal })) {
          if (event.type === 'state' && isTerminal(event.data.state)) {
            this.options.notify(await this.client.getJob(jobId));
            return;
          }
        }
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          this.options.logger.warn(`stopped following job ${jobId}: ${err.message}`);
          return;
        }
        this.options.logger.warn(`lost the events of job ${jobId} (${(err as Error).message}); retrying`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  }
}
