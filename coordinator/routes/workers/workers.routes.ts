import Router from '@koa/router';
import { API_PREFIX } from '../../../protocol/api';
import { audited } from '../../middleware/audit';
import { allow, principalOf, workerSelf } from '../../middleware/auth';
import { jsonBody } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { claimSchema, heartbeatSchema, registerWorkerSchema } from './workers.schema';

const DEFAULT_CLAIM_WAIT_MS = 25_000;

export function workerRoutes(services: Services): Router<AppState> {
  const { scheduler, store, now } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/workers` });

  router.get('/', allow('submit'), async (ctx: AppContext) => {
    ctx.body = { workers: await scheduler.listWorkers() };
  });

  router.post(
    '/',
    allow('join', 'admin'),
    jsonBody,
    validate(registerWorkerSchema),
    audited(store, now, 'worker.register', (ctx) => (ctx.body as { worker?: { id: string } })?.worker?.id ?? null),
    async (ctx: AppContext) => {
      ctx.status = 201;
      ctx.body = await scheduler.register(inputOf(ctx, registerWorkerSchema));
    },
  );

  router.delete('/:id', audited(store, now, 'worker.deregister'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    if (principal.role !== 'admin') workerSelf(ctx);
    await scheduler.deregister(ctx.params.id!);
    ctx.status = 204;
  });

  router.post('/:id/heartbeat', jsonBody, validate(heartbeatSchema), async (ctx: AppContext) => {
    const id = workerSelf(ctx);
    await scheduler.requireWorker(id);
    const input = inputOf(ctx, heartbeatSchema);
    ctx.body = await scheduler.heartbeat(id, input.state, input.problem);
  });

  router.post('/:id/claim', jsonBody, validate(claimSchema), async (ctx: AppContext) => {
    const id = workerSelf(ctx);
    const abort = new AbortController();
    const onClose = () => abort.abort();
    ctx.res.once('close', onClose);
    ctx.req.socket.setTimeout(0);
    try {
      const signal = AbortSignal.any([abort.signal, services.shutdown]);
      const input = inputOf(ctx, claimSchema);
      const { waitMs, ...filter } = input;
      const assignment = await scheduler.claim(id, waitMs ?? DEFAULT_CLAIM_WAIT_MS, signal, filter);
      if (assignment) ctx.body = assignment;
      else ctx.status = 204;
    } finally {
      ctx.res.off('close', onClose);
    }
  });

  return router;
}

