import Router from '@koa/router';
import { AuthorizationError } from '../../errors';
import { principalOf } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';
import type { Services } from '../../services/container';

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

export function systemRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/healthz', (ctx: AppContext) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/metrics', async (ctx: AppContext) => {
    const fromLoopback = isLoopback(ctx.req.socket.remoteAddress ?? '');
    if (!(fromLoopback && !ctx.state.principal) && principalOf(ctx).role !== 'admin') {
      throw new AuthorizationError('metrics need an admin token (they are open without a token on loopback only)');
    }
    ctx.type = services.metrics.registry.contentType;
    ctx.body = await services.metrics.registry.metrics();
  });

  return router;
}
