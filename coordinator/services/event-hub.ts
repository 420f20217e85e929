// Wakes the SSE streams of a job when its events change. Subscribers read the events from the store
// themselves, at their own pace, so a slow subscriber costs memory for one batch and never slows a worker.

type Wake = () => void;

export class EventHub {
  private readonly subscribers = new Map<string, Set<Wake>>();
  private readonly pending = new Set<string>();
  private scheduled = false;

  subscribe(jobId: string, wake: Wake): () => void {
    let set = this.subscribers.get(jobId);
    if (!set) this.subscribers.set(jobId, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.subscribers.delete(jobId);
    };
  }

  /** Coalesced and deferred past the current transaction, so subscribers only read committed events. */
  notify(jobId: string): void {
    if (!this.subscribers.has(jobId)) return;
    this.pending.add(jobId);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const jobs = [...this.pending];
      this.pending.clear();
      for (const id of jobs) for (const wake of this.subscribers.get(id) ?? []) wake();
    });
  }

  get subscriberCount(): number {
    let count = 0;
    for (const set of this.subscribers.values()) count += set.size;
    return count;
  }
}
