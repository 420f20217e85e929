// First middleware: turns every thrown error into `{"error": {"code", "message"}}` with a 4xx/5xx status.
// Only 5xx are logged (they are our bugs); 4xx are the client's and go back to it.
import type { IncomingMessage } from 'node:http';
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
  code?: string;
}

/** Errors raised by koa-body, co-body and formidable carry a status but library wording; say it plainly. */
function fromLibrary(err: LibraryError): HttpError | null {
  // The body parsers inflate a gzip or deflate body as it arrives: one that is not what its Content-Encoding says
  // fails in zlib, with no status.
  if (err.code === 'Z_DATA_ERROR' || err.code === 'Z_BUF_ERROR') {
    return new HttpError(400, 'bad_encoding', `the body could not be decompressed as its Content-Encoding says: ${err.message}`);
  }
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
export function discardRestOfBody(req: IncomingMessage): void {
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, DISCARD_LIMIT_MS);
  timer.unref();
  // The request's own 'close' also fires when its socket goes: no listener left on a keep-alive socket.
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/** The answer to a thrown error, the same wherever the request was handled (Koa's chain or a plain handler). */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string } };
  /** An error of the request (not our bug): the rest of a body still arriving is read and dropped. */
  refused: boolean;
}

/** Maps an error to its answer; one that is not ours or a library's 4xx is a bug: logged, and answered 500. */
export function errorAnswer(raw: unknown, logger: Logger, request: { method: string; path: string; req: IncomingMessage }): ErrorAnswer {
  const err = raw as LibraryError;
  const known = err instanceof HttpError ? err : fromLibrary(err);
  if (known) return { status: known.status, headers: known.headers, body: { error: { code: known.code, message: known.message } }, refused: true };
  const where = { method: request.method, path: request.path };
  // The client went away mid-request (its connection dropped, it moved to another node): no one reads the answer,
  // and it is not our bug.
  if (request.req.destroyed && !request.req.complete) logger.warn('request cut off by the client', where);
  else logger.error('request failed', { ...where, error: err.stack ?? String(err) });
  return { status: 500, headers: {}, body: { error: { code: 'internal', message: 'the coordinator hit an internal error; it is logged' } }, refused: false };
}

export function errorHandler(logger: Logger) {
  return async function handleErrors(ctx: AppContext, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (raw) {
      const answer = errorAnswer(raw, logger, ctx);
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
      if (answer.refused && !ctx.req.complete) discardRestOfBody(ctx.req);
    }
  };
}
