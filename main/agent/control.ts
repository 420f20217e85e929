// The agent's end of its control stream: the coordinator pushes each cancel or timeout of this worker's jobs
// down it the moment it is recorded, so a job stops within milliseconds instead of at the next heartbeat.
// Reconnects with backoff while it cannot be opened; the heartbeat answer still carries every stop meanwhile.
// Open only while the agent has jobs (and a while after, for the next one): an idle worker has nothing to stop,
// and a pool of 10,000 idle workers then holds one connection each (its claim), not two.
import type { LeaseDirective } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';
import type { AgentLogger } from './logger';
import { Alarm, backoffDelay, type BackoffOptions } from './timing';

export interface ControlChannelOptions {
  client: ApiClient;
  /** The worker's id now (null before it registered); a new id (registered again) opens a new stream. */
  workerId: () => string | null;
  /** Whether the stream is wanted now (the agent holds a job, or held one a moment ago). */
  needed: () => boolean;
  onStop: (directive: LeaseDirective) => void;
  logger: AgentLogger;
  backoff: BackoffOptions;
}

/** How long the loop sleeps while no stream is needed, if nothing wakes it first. */
const IDLE_SLEEP_MS = 60_000;

export class ControlChannel {
  private readonly alarm = new Alarm();
  private abort: AbortController | null = null;
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly options: ControlChannelOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Drops the stream and opens it again at once (the worker registered again under a new id). */
  restart(): void {
    this.abort?.abort();
    this.alarm.wake();
  }

  /** Opens the stream, or closes it, as `needed()` now says. */
  refresh(): void {
    if (!this.options.needed()) this.abort?.abort();
    this.alarm.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.restart();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const workerId = this.options.workerId();
      if (!workerId) {
        await this.alarm.sleep(backoffDelay(failures++, this.options.backoff));
        continue;
      }
      if (!this.options.needed()) {
        await this.alarm.sleep(IDLE_SLEEP_MS); // refresh() wakes it when a job comes
        continue;
      }
      const abort = new AbortController();
      this.abort = abort;
      try {
        for await (const directive of this.options.client.control(workerId, abort.signal)) {
          failures = 0;
          this.options.onStop(directive);
        }
        // The coordinator ended it (it is stopping, or this worker left the pool): open it again after a pause.
        failures = 0;
      } catch (err) {
        if (!abort.signal.aborted && failures === 0) {
          this.options.logger.debug(`control stream closed (${(err as Error).message}); stops come with heartbeats until it is back`);
        }
      } finally {
        this.abort = null;
      }
      if (!this.running) return;
      if (!abort.signal.aborted && this.options.needed()) await this.alarm.sleep(backoffDelay(failures++, this.options.backoff));
    }
  }
}
