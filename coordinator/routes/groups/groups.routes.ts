// Matrix submissions: one group of jobs, read and cancelled as one, with the same ownership as its jobs.
import Router from '@koa/router';
import { API_PREFIX } from '../../../protocol/api';
import { audited } from '../../middleware/audit';
import { allow, principalOf } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';
import type { Services } from '../../services/container';

export function groupRoutes(services: Services): Router<AppState> {
  const { jobs, store, now, access } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/groups` });

  router.get('/:id', allow('submit'), async (ctx: AppContext) => {
    ctx.body = { group: await access.visibleGroup(principalOf(ctx), ctx.params.id!) };
  });

  router.post('/:id/cancel', allow('submit'), audited(store, now, 'group.cancel'), async (ctx: AppContext) => {
    // The owner (or an admin) reads every job of it whole: no need to present it again.
    const group = await access.ownedGroup(principalOf(ctx), ctx.params.id!, 'cancel it');
    ctx.body = { group: await jobs.cancelGroup(group) };
  });

  return router;
}
