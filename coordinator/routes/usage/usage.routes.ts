import Router from '@koa/router';
import { API_PREFIX, usageQuerySchema } from '../../../protocol/api';
import { allow } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { poolActivity, poolUsage } from '../../services/usage';

export function usageRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/usage` });
  // Totals only (no job names), like BOINC's credit tables: every submitter may read them.
  router.get('/', allow('submit'), validate(usageQuerySchema, 'query'), async (ctx: AppContext) => {
    ctx.body = { usage: await poolUsage(services.store, services.now(), inputOf(ctx, usageQuerySchema).window) };
  });
  router.get('/activity', allow('submit'), async (ctx: AppContext) => {
    ctx.body = { activity: await poolActivity(services.store, services.now()) };
  });
  return router;
}
