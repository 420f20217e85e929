import { once } from 'node:events';
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Next } from 'koa';
import { API_PREFIX, IDEMPOTENCY_KEY_HEADER, idempotencyKeySchema, matrixSize, type JobState } from '../../../protocol/api';
import { NotFoundError } from '../../errors';
import { audited } from '../../middleware/audit';
import { allow, principalOf } from '../../middleware/auth';
import { jsonOrMultipart, jsonWithFile } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { submissionLimits } from '../../middleware/limits';
import { openEventStream } from '../../middleware/sse';
import { inputOf, parseInput, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { acceptZip } from '../../services/uploads';
import { createJobSchema, lastEventIdSchema, listJobsSchema } from './jobs.schema';

/** A submit's Idempotency-Key, refused (400) before a byte of its body is read when it is not one. */
async function idempotencyKey(ctx: AppContext, next: Next): Promise<void> {
  const header = ctx.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
  if (header !== undefined) ctx.state.idempotencyKey = parseInput(idempotencyKeySchema, header, `${IDEMPOTENCY_KEY_HEADER} header`);
  await next();
}

export function jobRoutes(services: Services): Router<AppState> {
  const { jobs, blobs, store, hub, now, access } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/jobs` });

  router.post(
    '/',
    allow('submit'),
    idempotencyKey,
    submissionLimits(services),
    jsonOrMultipart(services.uploads, { text: ['spec'], files: ['bundle'] }),
    audited(store, now, 'job.submit', (ctx) => {
      const body = ctx.body as { job?: { id: string }; group?: { id: string } } | undefined;
      return body?.job?.id ?? body?.group?.id ?? null;
    }),
    async (ctx: AppContext) => {
      const { value, file } = jsonWithFile(ctx, 'spec', 'bundle');
      const spec = parseInput(createJobSchema, value, 'job spec');
      const principal = principalOf(ctx);
      const { matrix } = spec;
      if (matrix && principal.role !== 'admin') services.limits.quota.takeMore(principal.tokenId, matrixSize(matrix) - 1);
      const bundle = file ? await acceptZip(file, blobs, 'bundle', services.uploads.zipLimits) : null;
      // A matrix answers its group (every job in it); a single job answers the job. A resend of a submit (same
      // key) answers what the first made, as it did then: 201, and a header saying it is a replay.
      const { submitted, replayed } = await jobs.submitOnce(spec, principal.name, bundle, ctx.state.idempotencyKey);
      ctx.status = 201;
      if (replayed) ctx.set('Idempotent-Replayed', 'true');
      ctx.body = submitted;
    },
  );

  router.get('/', allow('submit'), validate(listJobsSchema, 'query'), async (ctx: AppContext) => {
    const query = inputOf(ctx, listJobsSchema);
    const principal = principalOf(ctx);
    const submittedBy = access.listedSubmitter(principal, query.mine === '1' || query.mine === 'true');
    const list = await jobs.list({
      limit: query.limit,
      ...(query.state ? { states: query.state as JobState[] } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      ...(submittedBy !== undefined ? { submittedBy } : {}),
      ...(query.group !== undefined ? { groupId: query.group } : {}),
    });
    ctx.body = { ...list, jobs: list.jobs.map((job) => access.present(principal, job)) };
  });

  // Fair share: who has used the pool lately, for the jobs list (names and totals only, whatever the job visibility).
  router.get('/shares', allow('submit'), async (ctx: AppContext) => {
    ctx.body = { shares: await services.fairShare.shares(store) };
  });

  router.get('/:id', allow('submit'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    const job = await access.visible(principal, ctx.params.id!);
    ctx.body = { job: access.present(principal, await jobs.view(store, job)) };
  });

  router.get('/:id/log', allow('submit'), async (ctx: AppContext) => {
    const job = await access.visible(principalOf(ctx), ctx.params.id!);
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = Readable.from(jobs.logPieces(job));
  });

  router.get('/:id/artifacts', allow('submit'), audited(store, now, 'job.artifacts'), async (ctx: AppContext) => {
    const job = await access.owned(principalOf(ctx), ctx.params.id!, 'download its artifacts');
    if (!job.artifactsSha) throw new NotFoundError(`job ${job.id} has no artifacts (none matched its outputs, or it has not finished)`);
    ctx.type = 'application/zip';
    ctx.attachment(`${job.id}-artifacts.zip`);
    if (job.artifactsSize !== null) ctx.length = job.artifactsSize;
    ctx.body = blobs.open(job.artifactsSha);
  });

  router.post('/:id/cancel', allow('submit'), audited(store, now, 'job.cancel'), async (ctx: AppContext) => {
    await access.owned(principalOf(ctx), ctx.params.id!, 'cancel it');
    ctx.body = { job: await jobs.cancel(ctx.params.id!) };
  });

  router.post(
    '/:id/rerun',
    allow('submit'),
    submissionLimits(services),
    audited(store, now, 'job.rerun', (ctx) => (ctx.body as { job?: { id: string } })?.job?.id ?? null),
    async (ctx: AppContext) => {
      // The copy is the original owner's job, whoever (owner or admin) asks for it.
      const original = await access.owned(principalOf(ctx), ctx.params.id!, 're-run it');
      ctx.status = 201;
      ctx.body = { job: await jobs.rerun(original) };
    },
  );

  // One shutdown listener for every stream (not one each), so many subscribers raise no MaxListeners warning.
  services.shutdown.addEventListener('abort', () => hub.closeAll(), { once: true });

  router.get('/:id/events', allow('submit'), async (ctx: AppContext) => {
    const job = await access.visible(principalOf(ctx), ctx.params.id!);
    const resumeFrom = ctx.get('last-event-id') || (ctx.query.lastEventId as string | undefined) || '0';
    let cursor = parseInput(lastEventIdSchema, resumeFrom, 'Last-Event-ID');

    const { stream, stopKeepAlive } = openEventStream(ctx, services.sse.keepAliveMs);

    let closed = false;
    let pumping = false;
    let wokenWhilePumping = false;
    let resolveClosed = () => {};
    const whenClosed = new Promise<void>((resolve) => (resolveClosed = resolve));
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      unwatch();
      stopKeepAlive();
      resolveClosed();
      stream.end();
    };
    // Pulls at this subscriber's own pace, one frame at a time: a client that stops reading holds one batch.
    const pump = async () => {
      if (pumping) {
        wokenWhilePumping = true;
        return;
      }
      pumping = true;
      try {
        do {
          wokenWhilePumping = false;
          for (let caughtUp = false; !caughtUp; ) {
            if (closed) return;
            const batch = await hub.framesAfter(store, job.id, cursor);
            for (const frame of batch.frames) {
              if (closed) return;
              cursor = frame.id;
              const writable = stream.write(frame.bytes);
              if (frame.terminal) {
                close();
                return;
              }
              if (!writable) await Promise.race([once(stream, 'drain'), whenClosed]);
            }
            caughtUp = batch.caughtUp;
          }
        } while (wokenWhilePumping);
      } catch (err) {
        services.logger.warn('event stream stopped', { job: job.id, error: String(err) });
        close();
      } finally {
        pumping = false;
      }
    };
    const unsubscribe = hub.subscribe(job.id, { wake: () => void pump(), close });
    // A revoked token's stream ends: what it could read is no longer its to read.
    const unwatch = services.revocations.watch(principalOf(ctx).tokenId, close);
    ctx.res.on('close', close);
    stream.write('retry: 2000\n\n');
    if (services.shutdown.aborted) close();
    else void pump();
  });

  return router;
}
