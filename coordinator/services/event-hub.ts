// Wakes the SSE streams of a job when its events or output change, and shares the serialized frames of the
// job's latest read between them: subscribers at the same place (the usual case: all caught up) cost one read and one
// serialization per batch, not one each. Each subscriber still pulls at its own pace, so a slow one holds
// at most a batch and never slows a worker or the others.
import type { EventFrame, JobStream, StreamRead, StreamSource } from './job-stream';

export interface EventStream {
  wake(): void;
  close(): void;
}

interface Batch {
  after: number;
  /** The job's notification count when the read started: a later notification may have added events it lacks. */
  generation: number;
  read: Promise<StreamRead>;
  done?: StreamRead;
}

interface JobChannel {
  streams: Set<EventStream>;
  generation: number;
  latest?: Batch;
}

export class EventHub {
  private readonly channels = new Map<string, JobChannel>();
  private readonly pending = new Set<string>();
  private scheduled = false;

  constructor(private readonly stream: JobStream) {}

  subscribe(jobId: string, stream: EventStream): () => void {
    let channel = this.channels.get(jobId);
    if (!channel) this.channels.set(jobId, (channel = { streams: new Set(), generation: 0 }));
    const { streams } = channel;
    streams.add(stream);
    return () => {
      streams.delete(stream);
      // Dropping the channel drops its cached batch: with nobody subscribed, no notification would mark it stale.
      if (streams.size === 0 && this.channels.get(jobId)?.streams === streams) this.channels.delete(jobId);
    };
  }

  /** Coalesced and deferred past the current transaction, so subscribers only read committed events. */
  notify(jobId: string): void {
    if (!this.channels.has(jobId)) return;
    this.pending.add(jobId);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const jobs = [...this.pending];
      this.pending.clear();
      for (const id of jobs) {
        const channel = this.channels.get(id);
        if (!channel) continue;
        channel.generation++;
        for (const stream of channel.streams) stream.wake();
      }
    });
  }

  /**
   * The frames of the job's stream after `cursor`, at most a batch, from the latest read when it covers the
   * cursor. `caughtUp`: nothing followed them when they were read and no event was notified since, so the
   * subscriber can wait for its next wake instead of reading again.
   */
  async framesAfter(source: StreamSource, jobId: string, cursor: number): Promise<{ frames: EventFrame[]; caughtUp: boolean }> {
    const channel = this.channels.get(jobId);
    const latest = channel?.latest;
    const batch = channel && latest && this.covers(channel, latest, cursor) ? latest : this.read(source, jobId, cursor, channel);
    const { frames, complete } = await batch.read;
    const caughtUp = complete && batch.generation === (channel?.generation ?? 0);
    const first = frames.findIndex((frame) => frame.id > cursor);
    return { frames: first < 0 ? [] : frames.slice(first), caughtUp };
  }

  /** Ends every stream (the coordinator is stopping). */
  closeAll(): void {
    for (const channel of [...this.channels.values()]) for (const stream of [...channel.streams]) stream.close();
  }

  get subscriberCount(): number {
    let count = 0;
    for (const channel of this.channels.values()) count += channel.streams.size;
    return count;
  }

  private covers(channel: JobChannel, batch: Batch, cursor: number): boolean {
    if (!batch.done) return batch.after === cursor;
    const { frames } = batch.done;
    const end = frames.at(-1)?.id ?? batch.after;
    // Only from a frame's end: a cursor inside an output frame (a client resuming at any offset) reads afresh.
    if (cursor !== batch.after && !frames.some((frame) => frame.id === cursor)) return false;
    // At its end, a batch only answers if it is known complete; otherwise the store may hold more.
    return cursor < end || (batch.done.complete && batch.generation === channel.generation);
  }

  private read(source: StreamSource, jobId: string, after: number, channel: JobChannel | undefined): Batch {
    const batch: Batch = {
      after,
      generation: channel?.generation ?? 0,
      read: this.stream.framesAfter(source, jobId, after),
    };
    if (!channel) return batch;
    channel.latest = batch;
    batch.read.then(
      (done) => (batch.done = done),
      () => {
        if (channel.latest === batch) channel.latest = undefined;
      },
    );
    return batch;
  }
}
