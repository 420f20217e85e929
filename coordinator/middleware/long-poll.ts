// Long polls: a claim, or a completion that waits for the next job. Each ends early when its client goes or
// the coordinator stops. A claim that has to wait is answered directly on the response, outside Koa's chain: a
// parked claim then holds its socket and a closure, not the frames of every middleware (10,000 idle workers).
import type { AppContext } from './context';
import type { Logger } from './errors';

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
export async function untilClosed<T>(ctx: AppContext, shutdown: AbortSignal, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onClose = () => abort.abort();
  ctx.res.once('close', onClose);
  ctx.req.socket.setTimeout(0);
  const release = endOnShutdown(shutdown, abort);
  try {
    return await wait(abort.signal);
  } finally {
    release();
    ctx.res.off('close', onClose);
  }
}

/** What a parked long poll's eventual answer needs besides the body. */
export interface ParkedAnswer<T> {
  logger: Logger;
  /** Called once the answer (not null: 200) is written; the route's audit, which the chain could not write. */
  answered: (body: T) => Promise<void>;
  /** The answer found its client gone: what it handed out must go back. */
  undelivered: (body: T) => Promise<void>;
}

/**
 * Runs a long poll whose `wait` calls `onPark` when it starts to wait. Answered at once: the body goes through
 * Koa as usual (null is 204). Parked: Koa's chain ends now (`ctx.respond = false`) and the answer is written on
 * the response when it comes.
 */
export async function parkable<T extends object>(
  ctx: AppContext,
  shutdown: AbortSignal,
  wait: (signal: AbortSignal, onPark: () => void) => Promise<T | null>,
  later: ParkedAnswer<T>,
): Promise<void> {
  const abort = new AbortController();
  const onClose = () => abort.abort();
  ctx.res.once('close', onClose);
  ctx.req.socket.setTimeout(0);
  let park!: (parked: 'parked') => void;
  const parked = new Promise<'parked'>((resolve) => (park = resolve));
  const release = endOnShutdown(shutdown, abort);
  const pending = wait(abort.signal, () => park('parked'));
  void pending.finally(release).catch(() => {});
  let first: T | null | 'parked';
  try {
    first = await Promise.race([pending, parked]);
  } catch (err) {
    ctx.res.off('close', onClose);
    throw err;
  }
  if (first !== 'parked') {
    ctx.res.off('close', onClose);
    if (first) ctx.body = first;
    else ctx.status = 204;
    return;
  }
  ctx.respond = false;
  ctx.status = 202; // only what the request metrics record for the chain's part; the client gets the answer below
  const { res } = ctx;
  pending.then(
    async (body) => {
      res.off('close', onClose);
      if (res.destroyed || res.writableEnded) {
        if (body) await later.undelivered(body);
        return;
      }
      if (!body) {
        res.writeHead(204).end();
        return;
      }
      const json = JSON.stringify(body);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) }).end(json);
      await later.answered(body);
    },
    (err: unknown) => {
      res.off('close', onClose);
      later.logger.error('a parked claim failed', { error: String(err) });
      if (res.destroyed || res.headersSent) return;
      const json = JSON.stringify({ error: { code: 'internal', message: 'the coordinator could not answer the claim; try again' } });
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) }).end(json);
    },
  ).catch((err: unknown) => later.logger.error('a parked claim answer could not be audited or handed back', { error: String(err) }));
}
