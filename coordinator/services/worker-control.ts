// The open channel to each connected worker (GET /workers/:id/control): a cancel or a timeout reaches the
// worker the moment it is committed, not at its next heartbeat. A heartbeat answer still carries every stop,
// so a worker whose channel is down learns of it there, as before. Knows nothing of HTTP.
import type { LeaseDirective } from '../../protocol/api';

export interface ControlListener {
  stop(directive: LeaseDirective): void;
  close(): void;
}

export class WorkerControl {
  private readonly listeners = new Map<string, Set<ControlListener>>();

  /** The returned function unsubscribes (the stream closed). */
  subscribe(workerId: string, listener: ControlListener): () => void {
    let set = this.listeners.get(workerId);
    if (!set) this.listeners.set(workerId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(workerId) === set) this.listeners.delete(workerId);
    };
  }

  /** Call after the transaction that recorded the stop committed: the worker acts on it at once. */
  tell(workerId: string, directive: LeaseDirective): void {
    for (const listener of this.listeners.get(workerId) ?? []) listener.stop(directive);
  }

  /** The worker left the pool: its streams end. */
  disconnect(workerId: string): void {
    for (const listener of [...(this.listeners.get(workerId) ?? [])]) listener.close();
  }

  /** Ends every stream (the coordinator is stopping). */
  closeAll(): void {
    for (const set of [...this.listeners.values()]) for (const listener of [...set]) listener.close();
  }
}
