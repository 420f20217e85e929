import Router from '@koa/router';
import { AuthorizationError } from '../../errors';
import { isLoopbackHost } from '../../../protocol/addresses';
import { API_PREFIX, PROTOCOL_VERSION } from '../../../protocol/api';
import type { PoolAdvert } from '../../../protocol/pool-record';
import { principalOf } from '../../middleware/auth';
import { hostName } from '../../middleware/security';
import type { AppContext, AppState } from '../../middleware/context';
import type { Services } from '../../services/container';

export function systemRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/healthz', (ctx: AppContext) => {
    ctx.body = { status: 'ok' };
  });

  // Open to all: what the LAN advertisement says anyway. A client checks it over its pinned connection before it
  // asks its owner to join (main/invite-link.ts).
  router.get(`${API_PREFIX}/pool`, (ctx: AppContext) => {
    const { name, version, fingerprint } = services.pool;
    ctx.body = { name, version, protocolVersion: PROTOCOL_VERSION, fingerprint, scheme: fingerprint ? 'https' : 'http' } satisfies PoolAdvert;
  });

  router.get('/metrics', async (ctx: AppContext) => {
    // Open without a token only to this machine, asked by a loopback name: a rebound name is not enough.
    const fromLoopback = isLoopbackHost(ctx.req.socket.remoteAddress ?? '') && isLoopbackHost(hostName(ctx.get('host')));
    if (!(fromLoopback && !ctx.state.principal) && principalOf(ctx).role !== 'admin') {
      throw new AuthorizationError('metrics need an admin token (they are open without a token to loopback names on this machine only)');
    }
    ctx.type = services.metrics.contentType;
    ctx.body = await services.metrics.scrape();
  });

  return router;
}
