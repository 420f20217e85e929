// Enrollment codes for new workers (admins): make one (shown once, with the command to paste), list, revoke.
import Router from '@koa/router';
import { API_PREFIX, createInviteSchema } from '../../../protocol/api';
import { NotFoundError } from '../../errors';
import { audited } from '../../middleware/audit';
import { allow } from '../../middleware/auth';
import { jsonBody } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';
import type { Services } from '../../services/container';

export function inviteRoutes(services: Services): Router<AppState> {
  const { invites, store, now, pool } = services;
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/invites` });
  router.use(allow('admin'));

  router.post(
    '/',
    jsonBody,
    validate(createInviteSchema),
    audited(store, now, 'invite.create', (ctx) => (ctx.body as { id?: string })?.id ?? null),
    async (ctx: AppContext) => {
      ctx.status = 201;
      ctx.body = await invites.create(inputOf(ctx, createInviteSchema), pool.url, pool.fingerprint);
    },
  );

  router.get('/', async (ctx: AppContext) => {
    ctx.body = { invites: await invites.list() };
  });

  router.delete('/:id', audited(store, now, 'invite.revoke'), async (ctx: AppContext) => {
    if ((await invites.revoke(ctx.params.id!)) === 0) throw new NotFoundError(`no live invite with id "${ctx.params.id}"`);
    ctx.status = 204;
  });

  return router;
}
