// First middleware: turns every thrown error into `{"error": {"code", "message"}}` with a 4xx/5xx status.
// Only 5xx are logged (they are our bugs); 4xx are the client's and go back to it.
import type { Next } from 'koa';
import { HttpError } from '../errors';
import type { AppContext } from './context';

export interface Logger {
  info(message: string, fields?: object): void;
  warn(message: string, fields?: object): void;
  error(message: string, fields?: object): void;
}

interface LibraryError extends Error {
  status?: number;
  statusCode?: number;
  httpCode?: number;
  type?: string;
  expose?: boolean;
}

/** Errors raised by koa-body, co-body and formidable carry a status but library wording; say it plainly. */
function fromLibrary(err: LibraryError): HttpError | null {
  const status = err.status ?? err.statusCode ?? err.httpCode;
  if (!status || status < 400 || status >= 500) return null;
  if (status === 413 || err.type === 'entity.too.large') {
    return new HttpError(413, 'payload_too_large', `the request body is too large: ${err.message}`);
  }
  if (err.type === 'entity.parse.failed' || /JSON/i.test(err.message)) {
    return new HttpError(400, 'invalid_json', `the body is not valid JSON: ${err.message}`);
  }
  if (status === 415) return new HttpError(415, 'unsupported_media_type', err.message);
  return new HttpError(status, 'bad_request', err.message || 'the request could not be read');
}

const DISCARD_LIMIT_MS = 5000;

/**
 * The client is still sending a body we refused (an upload over the cap, or with a bad token). Closing the
 * socket at once would make the kernel answer its next bytes with a reset that can destroy our answer before
 * the client reads it; so the rest is read and dropped while the client reads the answer and stops, and the
 * connection is cut only if it keeps sending past a limit.
 */
function discardRestOfBody(ctx: AppContext): void {
  const { req } = ctx;
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, DISCARD_LIMIT_MS);
  timer.unref();
  // The request's own 'close' also fires when its socket goes: no listener left on a keep-alive socket.
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

export function errorHandler(logger: Logger) {
  return async function handleErrors(ctx: AppContext, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (raw) {
      const err = raw as LibraryError;
      const known = err instanceof HttpError ? err : fromLibrary(err);
      if (known) {
        ctx.status = known.status;
        ctx.set(known.headers);
        ctx.body = { error: { code: known.code, message: known.message } };
        if (!ctx.req.complete) discardRestOfBody(ctx);
        return;
      }
      // The client went away mid-request (its connection dropped, it moved to another node): no one to answer,
      // and not our bug.
      if (ctx.req.destroyed && !ctx.req.complete) {
        logger.warn('request cut off by the client', { method: ctx.method, path: ctx.path });
        return;
      }
      logger.error('request failed', { method: ctx.method, path: ctx.path, error: err.stack ?? String(err) });
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'the coordinator hit an internal error; it is logged' } };
    }
  };
}
