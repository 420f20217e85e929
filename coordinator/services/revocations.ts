// Revoking a token takes effect on what is already open: the event streams it opened end within a second,
// whether it was revoked here or by `node coordinator token revoke` in another process (hence a poll of the
// store, once per interval and only while a stream is open).
import type { Store } from '../store/types';

export const REVOCATION_CHECK_MS = 500;

export class Revocations {
  private readonly watchers = new Map<string, Set<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly store: Store,
    private readonly intervalMs = REVOCATION_CHECK_MS,
  ) {}

  /** Calls `onRevoked` once if the token is revoked while watched; the returned function stops watching. */
  watch(tokenId: string, onRevoked: () => void): () => void {
    let set = this.watchers.get(tokenId);
    if (!set) this.watchers.set(tokenId, (set = new Set()));
    set.add(onRevoked);
    this.timer ??= setInterval(() => void this.check(), this.intervalMs).unref();
    return () => {
      set.delete(onRevoked);
      if (set.size === 0 && this.watchers.get(tokenId) === set) this.watchers.delete(tokenId);
      if (this.watchers.size === 0) this.stop();
    };
  }

  /** Ends what the token opened now (a revocation made in this process). */
  revoked(tokenIds: Iterable<string>): void {
    for (const id of tokenIds) {
      const set = this.watchers.get(id);
      if (!set) continue;
      this.watchers.delete(id);
      for (const onRevoked of set) onRevoked();
    }
    if (this.watchers.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking || this.watchers.size === 0) return;
    this.checking = true;
    try {
      const revoked = (await this.store.listTokens()).filter((t) => t.revokedAt !== null && this.watchers.has(t.id));
      this.revoked(revoked.map((t) => t.id));
    } finally {
      this.checking = false;
    }
  }
}
