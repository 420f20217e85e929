// Long polls: a claim, or a completion that waits for the next job. Each ends early when its client goes or
// the coordinator stops. Claims are served before Koa (routes/workers/claim.ts): a parked claim then holds its
// socket, its request and response and a closure, not a Koa context (10,000 idle workers).
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The long polls of each coordinator's shutdown signal: one listener ends them all. (One listener each would raise
 * MaxListeners warnings, and `AbortSignal.any()` with the long-lived shutdown signal keeps a reference per call in
 * Node 20: measured 18 MiB per 300,000 claims, a leak at 10,000 workers.)
 */
const pollsOf = new WeakMap<AbortSignal, Set<AbortController>>();

/** Aborts `poll` when the coordinator shuts down, until the returned function is called. */
function endOnShutdown(shutdown: AbortSignal, poll: AbortController): () => void {
  if (shutdown.aborted) {
    poll.abort();
    return () => {};
  }
  let polls = pollsOf.get(shutdown);
  if (!polls) {
    const all = new Set<AbortController>();
    shutdown.addEventListener('abort', () => all.forEach((each) => each.abort()), { once: true });
    pollsOf.set(shutdown, all);
    polls = all;
  }
  const mine = polls;
  mine.add(poll);
  return () => mine.delete(poll);
}

/** Runs `wait` with a signal that aborts when the client hangs up or the coordinator shuts down. */
export async function untilClosed<T>(
  req: IncomingMessage,
  res: ServerResponse,
  shutdown: AbortSignal,
  wait: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  req.socket.setTimeout(0);
  const release = endOnShutdown(shutdown, abort);
  try {
    return await wait(abort.signal);
  } finally {
    release();
    res.off('close', onClose);
  }
}
