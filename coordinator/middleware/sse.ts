// Server-sent event responses (a job's events, a worker's control stream): one shape for both.
import { PassThrough } from 'node:stream';
import type { AppContext } from './context';

/**
 * Answers `ctx` with an event stream: the headers, no socket timeout, no Nagle delay, and a comment every
 * `keepAliveMs` while nothing else is being written (proxies and NATs drop silent connections).
 * `stopKeepAlive()` ends the comments; ending the stream is the caller's.
 */
export function openEventStream(ctx: AppContext, keepAliveMs: number): { stream: PassThrough; stopKeepAlive: () => void } {
  const stream = new PassThrough();
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.body = stream;
  const keepAlive = setInterval(() => {
    if (stream.writable && stream.writableLength === 0) stream.write(': keep-alive\n\n');
  }, keepAliveMs);
  keepAlive.unref();
  return { stream, stopKeepAlive: () => clearInterval(keepAlive) };
}
