// GET /api/v1/me: who the caller is to the pool (the token's name and role), so that a UI offers only what the
// caller may do (an admin's worker controls, invites and audit; cancel and re-run on one's own jobs).
import Router from '@koa/router';
import { API_PREFIX, type Caller } from '../../../protocol/api';
import { principalOf } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';

export function meRoutes(): Router<AppState> {
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/me` });

  router.get('/', (ctx: AppContext) => {
    const { name, role } = principalOf(ctx);
    ctx.body = { me: { name, role } satisfies Caller };
  });

  return router;
}
