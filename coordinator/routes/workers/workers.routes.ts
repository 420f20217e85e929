import Router from '@koa/router';
import { API_PREFIX, CONTROL_EVENTS, type LeaseDirective } from '../../../protocol/api';
import { audited } from '../../middleware/audit';
import { AuthenticationError } from '../../errors';
import { allow, principalOf, workerSelf } from '../../middleware/auth';
import { jsonBody } from '../../middleware/body';
import { openEventStream } from '../../middleware/sse';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { requireProtocol } from '../../services/scheduler';
import { outdatedBecause } from '../../services/update-feed';
import { leaveDrained } from './claim';
import { heartbeatSchema, registerWorkerSchema } from './workers.schema';

export function workerRoutes(services: Services): Router<AppState> {
  const { scheduler, store, now } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/workers` });

  router.get('/', allow('submit'), async (ctx: AppContext) => {
    const [workers, published] = await Promise.all([scheduler.listWorkers(), services.updates.latestVersion()]);
    const marked = workers.map((worker) => ({ ...worker, outdated: outdatedBecause(worker, published) }));
    ctx.body = { workers: await services.access.presentWorkers(principalOf(ctx), marked) };
  });

  router.get('/:id', allow('submit'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    ctx.body = await services.access.presentWorkerDetail(principal, await scheduler.workerDetail(ctx.params.id!));
  });

  router.post(
    '/',
    allow('join', 'admin'),
    jsonBody,
    validate(registerWorkerSchema),
    audited(store, now, 'worker.register', (ctx) => (ctx.body as { worker?: { id: string } })?.worker?.id ?? null),
    async (ctx: AppContext) => {
      const principal = principalOf(ctx);
      // Before an enrollment use is spent: a worker this coordinator cannot serve keeps its code for after its update.
      requireProtocol(inputOf(ctx, registerWorkerSchema).protocolVersion);
      if (principal.role === 'join' && !(await services.tokens.consumeUse(principal.tokenId))) {
        throw new AuthenticationError('this enrollment code is used up or expired; ask an admin for a new one');
      }
      ctx.status = 201;
      ctx.body = await scheduler.register(inputOf(ctx, registerWorkerSchema));
    },
  );

  for (const [action, adminState] of [['pause', 'paused'], ['drain', 'draining'], ['resume', 'active']] as const) {
    router.post(`/:id/${action}`, allow('admin'), audited(store, now, `worker.${action}`), async (ctx: AppContext) => {
      ctx.body = { worker: await scheduler.setAdminState(ctx.params.id!, adminState) };
    });
  }

  router.delete('/:id', audited(store, now, 'worker.deregister'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    if (principal.role !== 'admin') workerSelf(ctx);
    await scheduler.deregister(ctx.params.id!);
    ctx.status = 204;
  });

  router.post('/:id/heartbeat', jsonBody, validate(heartbeatSchema), async (ctx: AppContext) => {
    const id = workerSelf(ctx);
    const worker = await scheduler.requireWorker(id);
    const input = inputOf(ctx, heartbeatSchema);
    const answer = await scheduler.heartbeat(id, input.state, input.problem);
    if (worker.adminState === 'draining' && answer.leases.length === 0) await leaveDrained(services, principalOf(ctx).name, ctx.ip, id);
    ctx.body = answer;
  });

  // The coordinator stops: every control stream ends (parked claims end through middleware/long-poll.ts).
  services.shutdown.addEventListener('abort', () => services.control.closeAll(), { once: true });

  /**
   * The worker's control stream (server-sent events): each stop (cancel, timeout) of one of its leases the moment
   * it is recorded; on (re)connecting, the stops it may have missed. The agent keeps one open while it runs.
   */
  router.get('/:id/control', async (ctx: AppContext) => {
    const id = workerSelf(ctx);
    await scheduler.requireWorker(id);
    const { stream, stopKeepAlive } = openEventStream(ctx, services.sse.keepAliveMs);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      stopKeepAlive();
      stream.end();
    };
    const stop = (directive: LeaseDirective) => {
      if (!closed) stream.write(`event: ${CONTROL_EVENTS.stop}\ndata: ${JSON.stringify(directive)}\n\n`);
    };
    const unsubscribe = services.control.subscribe(id, { stop, close });
    ctx.res.on('close', close);
    stream.write('retry: 1000\n\n');
    if (services.shutdown.aborted) return close();
    for (const directive of await scheduler.stopsOf(id)) stop(directive);
  });

  // POST /:id/claim is served before Koa: routes/workers/claim.ts.

  return router;
}

