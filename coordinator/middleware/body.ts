// Body parsers: JSON with a size cap, and multipart whose files stream to the data dir's tmp folder
// (hashed with SHA-256 on the way) so an upload is never held whole in memory.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Next } from 'koa';
import type { Part } from 'formidable';
import coBody from 'co-body';
import { koaBody } from 'koa-body';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors';
import type { AppContext } from './context';

const JSON_LIMIT_BYTES = 1024 * 1024;

const parseJson = koaBody({ multipart: false, urlencoded: false, text: false, jsonLimit: JSON_LIMIT_BYTES });

function hasBody(ctx: AppContext): boolean {
  return Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
}

const notJson = (contentType: string | undefined) =>
  new UnsupportedMediaTypeError(`send the body as application/json (got ${contentType || 'no content type'})`);

/** JSON bodies only (an empty body counts as `{}`). */
export async function jsonBody(ctx: AppContext, next: Next): Promise<void> {
  if (hasBody(ctx) && !ctx.is('application/json')) throw notJson(ctx.get('content-type'));
  await parseJson(ctx, next);
}

/**
 * The same for a request handled before Koa (routes/workers/claim.ts): the same parser as koa-body's (co-body,
 * same limit), so a bad body gets the same answer.
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const contentType = req.headers['content-type'];
  if (Number(req.headers['content-length'] ?? 0) === 0 && req.headers['transfer-encoding'] === undefined) return {};
  if (contentType?.split(';', 1)[0]!.trim().toLowerCase() !== 'application/json') throw notJson(contentType);
  return coBody.json(req, { limit: JSON_LIMIT_BYTES });
}

export interface UploadOptions {
  tmpDir: string;
  maxUploadBytes: number;
}

/** The parts a multipart request may hold; any other part is refused, never silently dropped. */
export interface MultipartParts {
  text: readonly string[];
  files: readonly string[];
}

const describeParts = ({ text, files }: MultipartParts) =>
  [...text.map((name) => `"${name}" (text)`), ...files.map((name) => `"${name}" (file)`)].join(', ');

/** JSON, or multipart/form-data with at most one file part (a ZIP) and small text parts, all named in `parts`. */
export function jsonOrMultipart({ tmpDir, maxUploadBytes }: UploadOptions, parts: MultipartParts) {
  const limits = {
    maxFiles: 1,
    maxFileSize: maxUploadBytes,
    maxTotalFileSize: maxUploadBytes,
    maxFields: 8,
    maxFieldsSize: JSON_LIMIT_BYTES,
    allowEmptyFiles: true,
    minFileSize: 0,
    hashAlgorithm: 'sha256' as const,
  };
  return async function parseUpload(ctx: AppContext, next: Next): Promise<void> {
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > maxUploadBytes + JSON_LIMIT_BYTES) {
      throw new PayloadTooLargeError(`the upload is ${declared} bytes; this coordinator accepts up to ${maxUploadBytes}`);
    }
    if (hasBody(ctx) && !ctx.is('application/json', 'multipart/form-data')) {
      throw new UnsupportedMediaTypeError(
        `send application/json, or multipart/form-data with a ZIP (got ${ctx.get('content-type') || 'no content type'})`,
      );
    }
    if (!ctx.is('multipart/form-data')) return parseJson(ctx, next);
    // A folder per request: whatever the handler did not adopt into the blob store (refused, failed, or cut
    // off mid-parse, when formidable has not reported the file yet) goes with it.
    const uploadDir = await mkdtemp(join(tmpDir, 'upload-'));
    const unknown: string[] = [];
    // Each part is what its name says, whatever Content-Type the client put on it (or left off: Python
    // `requests` sends files without one, which formidable would read as text).
    const onPart = (part: Part, handle: (part: Part) => void) => {
      const name = part.name ?? '';
      if (parts.files.includes(name)) part.mimetype ||= 'application/octet-stream';
      else if (parts.text.includes(name)) part.mimetype = null;
      else {
        unknown.push(name); // its data goes nowhere (formidable emits it; nobody listens)
        return;
      }
      handle(part);
    };
    try {
      await koaBody({ multipart: true, json: false, urlencoded: false, text: false, formidable: { ...limits, uploadDir, onPart } })(
        ctx,
        async () => {
          if (unknown.length > 0) {
            const names = [...new Set(unknown)].map((name) => `"${name}"`).join(', ');
            throw new ValidationError(`unknown multipart part ${names}: this request takes ${describeParts(parts)}`, 'unknown_part');
          }
          await next();
        },
      );
    } finally {
      await rm(uploadDir, { recursive: true, force: true });
    }
  };
}

export interface UploadedFile {
  filepath: string;
  size: number;
  hash?: string | null;
  originalFilename?: string | null;
}

/** The one file sent in field `name`, if any. */
export function uploadedFile(ctx: AppContext, name: string): UploadedFile | undefined {
  const files = (ctx.request as { files?: Record<string, UploadedFile | UploadedFile[]> }).files ?? {};
  const value = files[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The JSON of a request that is either plain JSON, or multipart with that JSON as the text field `field`
 * beside an optional file in `fileField`.
 */
export function jsonWithFile(
  ctx: AppContext,
  field: string,
  fileField: string,
): { value: unknown; file: UploadedFile | undefined } {
  if (!ctx.is('multipart/form-data')) return { value: ctx.request.body ?? {}, file: undefined };
  const text = ((ctx.request.body ?? {}) as Record<string, unknown>)[field];
  if (typeof text !== 'string') {
    throw new ValidationError(`multipart requests need a "${field}" field holding JSON text (beside the "${fileField}" file)`);
  }
  try {
    return { value: JSON.parse(text), file: uploadedFile(ctx, fileField) };
  } catch (err) {
    throw new ValidationError(`the "${field}" field is not valid JSON: ${(err as Error).message}`, 'invalid_json');
  }
}
