import Router from '@koa/router';
import type { Next } from 'koa';
import { API_PREFIX } from '../../../protocol/api';
import { UnsupportedMediaTypeError, ValidationError } from '../../errors';
import { audited } from '../../middleware/audit';
import { allow, principalOf } from '../../middleware/auth';
import { jsonBody, jsonOrMultipart, jsonWithFile } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, parseInput, validate } from '../../middleware/validate';
import { untilClosed } from '../../middleware/long-poll';
import type { Services } from '../../services/container';
import { storeOutputRun } from '../../services/output-upload';
import { acceptZip } from '../../services/uploads';
import {
  commandEndSchema,
  commandIndexSchema,
  commandStartSchema,
  completeSchema,
  leaseStateSchema,
  outputBytesQuerySchema,
  outputChunksSchema,
  releaseSchema,
} from './leases.schema';

export function leaseRoutes(services: Services): Router<AppState> {
  const { scheduler, blobs, store, now } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/leases` });
  router.use(allow('worker'));
  const worker = (ctx: AppContext) => principalOf(ctx).workerId!;
  const lease = (ctx: AppContext) => ctx.params.leaseId!;
  const commandIndex = async (ctx: AppContext, next: Next) => {
    ctx.params.index = String(parseInput(commandIndexSchema, ctx.params.index, 'command index'));
    await next();
  };

  router.get('/:leaseId/bundle', audited(store, now, 'lease.bundle', (ctx) => ctx.params.leaseId ?? null), async (ctx: AppContext) => {
    const job = await scheduler.leaseForBundle(lease(ctx), worker(ctx));
    if (!job.bundleSha) throw new ValidationError(`job ${job.id} has no bundle`, 'no_bundle');
    ctx.type = 'application/zip';
    if (job.bundleSize !== null) ctx.length = job.bundleSize;
    ctx.set('X-Content-SHA256', job.bundleSha);
    ctx.body = blobs.open(job.bundleSha);
  });

  router.post('/:leaseId/state', jsonBody, validate(leaseStateSchema), async (ctx: AppContext) => {
    await scheduler.setLeaseState(lease(ctx), worker(ctx), inputOf(ctx, leaseStateSchema).state);
    ctx.status = 204;
  });

  router.post('/:leaseId/output', jsonBody, validate(outputChunksSchema), async (ctx: AppContext) => {
    ctx.body = await scheduler.appendOutput(lease(ctx), worker(ctx), inputOf(ctx, outputChunksSchema).chunks);
  });

  router.get('/:leaseId/output', async (ctx: AppContext) => {
    ctx.body = await scheduler.outputPosition(lease(ctx), worker(ctx));
  });

  // Output as raw bytes, the body streamed into the attempt's files as it arrives: the one route that takes a body
  // up to LIMITS.outputUploadBytes (its sizes, checked before a byte is read, bound it).
  router.post('/:leaseId/output/bytes', validate(outputBytesQuerySchema, 'query'), async (ctx: AppContext) => {
    if (!ctx.is('application/octet-stream')) {
      throw new UnsupportedMediaTypeError(`send the output as application/octet-stream (got ${ctx.get('content-type') || 'no content type'})`);
    }
    const run = inputOf(ctx, outputBytesQuerySchema);
    try {
      // Not destroyed on a refusal: the error answer reads and drops the rest of the body, then answers.
      const body = ctx.req.iterator({ destroyOnReturn: false });
      ctx.body = await storeOutputRun(run, body, (chunks) => scheduler.appendOutput(lease(ctx), worker(ctx), chunks));
    } catch (err) {
      // The worker went away mid-body (its batches stored so far are kept): it asks where to resume.
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') throw new ValidationError('the upload was cut before its end; resend from the committed position', 'upload_cut');
      throw err;
    }
  });

  router.post('/:leaseId/commands/:index/start', commandIndex, jsonBody, validate(commandStartSchema), async (ctx: AppContext) => {
    await scheduler.commandStart(lease(ctx), worker(ctx), Number(ctx.params.index));
    ctx.status = 204;
  });

  router.post('/:leaseId/commands/:index/end', commandIndex, jsonBody, validate(commandEndSchema), async (ctx: AppContext) => {
    await scheduler.commandEnd(lease(ctx), worker(ctx), Number(ctx.params.index), inputOf(ctx, commandEndSchema));
    ctx.status = 204;
  });

  router.post(
    '/:leaseId/complete',
    jsonOrMultipart(services.uploads, { text: ['result'], files: ['artifacts'] }),
    audited(store, now, 'lease.complete', (ctx) => ctx.params.leaseId ?? null),
    async (ctx: AppContext) => {
      const { value, file } = jsonWithFile(ctx, 'result', 'artifacts');
      const result = parseInput(completeSchema, value, 'result');
      const artifacts = file ? await acceptZip(file, blobs, 'artifacts ZIP', services.uploads.zipLimits) : null;
      if (result.next === undefined) {
        // The answer of protocol v1 before `next` (the whole job), kept for one release.
        ctx.body = { job: await scheduler.complete(lease(ctx), worker(ctx), result, artifacts) };
        return;
      }
      ctx.body = await untilClosed(ctx.req, ctx.res, services.shutdown, (signal) => scheduler.completeAndClaim(lease(ctx), worker(ctx), result, artifacts, signal));
    },
  );

  router.post(
    '/:leaseId/release',
    jsonBody,
    validate(releaseSchema),
    audited(store, now, 'lease.release', (ctx) => ctx.params.leaseId ?? null),
    async (ctx: AppContext) => {
      await scheduler.release(lease(ctx), worker(ctx));
      ctx.status = 204;
    },
  );

  return router;
}
