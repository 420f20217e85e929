// The seed's Phase 2 routes, kept as a thin adapter over v1 so its curl walk-through works with a token
// added. Same auth as v1; every call goes through the same services.
import Router from '@koa/router';
import { z } from 'zod';
import { isTerminal, jobSpecSchema, labelSchema, LIMITS, text } from '../../../protocol/api';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import { audited } from '../../middleware/audit';
import { allow, principalOf } from '../../middleware/auth';
import { jsonBody, jsonOrMultipart, uploadedFile } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { submissionLimits } from '../../middleware/limits';
import { inputOf, parseInput, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { acceptZip } from '../../services/uploads';

// The seed's bodies carry a few fields v1 has no use for (fileUrl, filename, workerId): accepted, ignored,
// but held to the same rules as every v1 string.
const seedRegisterSchema = z.looseObject({
  workerId: text(128).optional(),
  hostname: text(128).min(1).optional(),
  os: text(64).min(1).optional(),
  labels: z.array(labelSchema).max(64).optional(),
});
const seedCreateSchema = z.looseObject({
  command: text(LIMITS.commandLength).min(1, 'command is required'),
  filename: text(256).optional(),
  fileUrl: text(2048).optional(),
});
const seedResultSchema = z.looseObject({
  jobId: text(200).min(1),
  workerId: text(200).optional(),
  stdout: z.string().max(16 * 1024 * 1024).optional(),
  stderr: z.string().max(16 * 1024 * 1024).optional(),
  exitCode: z.number().int().optional(),
  errorMessage: text(4096).optional(),
});
const jobIdQuery = z.looseObject({ jobId: text(200).min(1, 'jobId is required') });

export function seedRoutes(services: Services): Router<AppState> {
  const { jobs, scheduler, store, blobs, now, access } = services;
  const router = new Router<AppState>({ prefix: '/api' });

  router.get('/workers/register', allow('submit'), async (ctx: AppContext) => {
    const workers = await access.presentWorkers(principalOf(ctx), await scheduler.listWorkers());
    ctx.body = { success: true, workers, count: workers.length };
  });

  router.post(
    '/workers/register',
    allow('join', 'admin'),
    jsonBody,
    validate(seedRegisterSchema),
    audited(store, now, 'worker.register'),
    async (ctx: AppContext) => {
      const input = inputOf(ctx, seedRegisterSchema);
      const registered = await scheduler.register({
        name: input.hostname ?? input.workerId ?? 'seed-worker',
        os: input.os ?? 'unknown',
        ...(input.labels ? { labels: input.labels } : {}),
      });
      ctx.status = 201;
      ctx.body = { success: true, ...registered, workerId: registered.worker.id };
    },
  );

  router.post('/workers/heartbeat', allow('worker'), async (ctx: AppContext) => {
    const workerId = principalOf(ctx).workerId!;
    ctx.body = { success: true, ...(await scheduler.heartbeat(workerId, undefined)) };
  });

  router.get('/jobs/create', allow('submit'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    const submittedBy = access.listedSubmitter(principal, false);
    const list = await jobs.list({ limit: 100, ...(submittedBy !== undefined ? { submittedBy } : {}) });
    const visible = list.jobs.map((job) => access.present(principal, job));
    ctx.body = { success: true, jobs: visible, count: visible.length };
  });

  router.post(
    '/jobs/create',
    allow('submit'),
    submissionLimits(services),
    jsonBody,
    validate(seedCreateSchema),
    audited(store, now, 'job.submit'),
    async (ctx: AppContext) => {
      const input = inputOf(ctx, seedCreateSchema);
      const job = await jobs.submit({ commands: [input.command] }, principalOf(ctx).name, null);
      ctx.status = 201;
      ctx.body = { success: true, jobId: job.id, job };
    },
  );

  router.get('/jobs/get-job', allow('worker'), async (ctx: AppContext) => {
    const assignment = await scheduler.claim(await scheduler.requireWorker(principalOf(ctx).workerId!), 0, services.shutdown);
    ctx.body = assignment
      ? {
          success: true,
          job: {
            jobId: assignment.job.id,
            leaseId: assignment.lease.id,
            command: assignment.job.spec.commands.join(' && '),
            commands: assignment.job.spec.commands,
            fileUrl: assignment.bundleUrl,
          },
        }
      : { success: true, job: null, message: 'no pending jobs' };
  });

  /** Finds this worker's active lease on the job: the seed's calls name the job, v1 names the lease. */
  const leaseOf = async (ctx: AppContext, jobId: string) => {
    const job = await jobs.require(jobId);
    const lease = job.leaseId ? await store.getLease(job.leaseId) : undefined;
    if (!lease || lease.workerId !== principalOf(ctx).workerId) {
      if (isTerminal(job.state)) throw new ConflictError(`job ${jobId} already ended (${job.state})`, 'job_finished');
      throw new NotFoundError(`job ${jobId} is not running on this worker`);
    }
    return lease;
  };

  router.post('/jobs/submit-result', allow('worker'), jsonBody, validate(seedResultSchema), async (ctx: AppContext) => {
    const input = inputOf(ctx, seedResultSchema);
    const lease = await leaseOf(ctx, input.jobId);
    const workerId = principalOf(ctx).workerId!;
    const chunks = [
      { stream: 'stdout' as const, data: input.stdout ?? '' },
      { stream: 'stderr' as const, data: input.stderr ?? '' },
    ]
      .filter((c) => c.data.length > 0)
      .map((c, i) => ({ ...c, seq: lease.nextSeq + i }));
    if (chunks.length) await scheduler.appendOutput(lease.id, workerId, chunks);
    const exitCode = input.exitCode ?? 0;
    const job = await scheduler.complete(lease.id, workerId, { outcome: exitCode === 0 ? 'succeeded' : 'failed', exitCode }, null);
    ctx.body = { success: true, job };
  });

  router.put('/jobs/submit-result', allow('worker'), jsonBody, validate(seedResultSchema), async (ctx: AppContext) => {
    const input = inputOf(ctx, seedResultSchema);
    const lease = await leaseOf(ctx, input.jobId);
    const job = await scheduler.complete(
      lease.id,
      principalOf(ctx).workerId!,
      { outcome: 'error', reason: 'worker_error', error: input.errorMessage ?? 'the worker reported a failure' },
      null,
    );
    ctx.body = { success: true, job };
  });

  router.get('/jobs/status', allow('submit'), async (ctx: AppContext) => {
    const { jobId } = parseInput(jobIdQuery, ctx.query, 'query');
    const principal = principalOf(ctx);
    const job = access.present(principal, await jobs.view(store, await access.visible(principal, jobId)));
    const output = await jobs.logText(jobId);
    ctx.body = {
      success: true,
      job: { ...job, jobId: job.id, status: job.state, output, exitCode: job.exitCode },
    };
  });

  router.post(
    '/execute',
    allow('submit'),
    submissionLimits(services),
    jsonOrMultipart(services.uploads, { text: ['mode', 'command'], files: ['file', 'bundle'] }),
    audited(store, now, 'job.submit'),
    async (ctx: AppContext) => {
      const fields = (ctx.request.body ?? {}) as Record<string, unknown>;
      const mode = fields.mode ?? 'distributed';
      if (mode !== 'distributed') {
        throw new ValidationError(
          'mode=direct runs on the desktop app\'s own agent ("This PC"); through the coordinator use mode=distributed',
        );
      }
      if (typeof fields.command !== 'string' || !fields.command.trim()) throw new ValidationError('command is required');
      const file = uploadedFile(ctx, 'file') ?? uploadedFile(ctx, 'bundle');
      const bundle = file ? await acceptZip(file, blobs, 'file', services.uploads.zipLimits) : null;
      const commands = fields.command.split('\n').filter((c) => c.trim());
      const spec = parseInput(jobSpecSchema, { commands }, 'command');
      const job = await jobs.submit(spec, principalOf(ctx).name, bundle);
      ctx.status = 201;
      ctx.body = { success: true, mode: 'distributed', jobId: job.id, job };
    },
  );

  return router;
}
