// GET /api/v1/audit (admins): who did what, when, from where; filter by actor, action and time; newest first.
import Router from '@koa/router';
import { API_PREFIX, auditQuerySchema, type AuditPage } from '../../../protocol/api';
import { allow } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';

export function auditRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/audit` });

  router.get('/', allow('admin'), validate(auditQuerySchema, 'query'), async (ctx: AppContext) => {
    const query = inputOf(ctx, auditQuerySchema);
    const rows = await services.store.listAudit({
      ...(query.actor !== undefined ? { actor: query.actor } : {}),
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.since !== undefined ? { since: Date.parse(query.since) } : {}),
      ...(query.until !== undefined ? { until: Date.parse(query.until) } : {}),
      ...(query.cursor !== undefined ? { beforeId: Number(query.cursor) } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    ctx.body = {
      entries: page.map((row) => ({ ...row, at: new Date(row.at).toISOString() })),
      nextCursor: rows.length > query.limit ? String(page.at(-1)!.id) : null,
    } satisfies AuditPage;
  });

  return router;
}
