// POST /api/v1/sessions {code}: the sign-in link's one-time code for an expiring session token.
// DELETE /api/v1/sessions: signs out; the session token it is sent with stops working on every coordinator.
import Router from '@koa/router';
import { API_PREFIX, signInSchema, type SignInResponse } from '../../../protocol/api';
import { allow, authenticationFailed, bearerToken, principalOf, type Authenticators } from '../../middleware/auth';
import { jsonBody } from '../../middleware/body';
import type { AppContext, AppState } from '../../middleware/context';
import { inputOf, validate } from '../../middleware/validate';

export function sessionRoutes(auth: Authenticators): Router<AppState> {
  const router = new Router<AppState>({ prefix: `${API_PREFIX}/sessions` });

  router.post('/', jsonBody, validate(signInSchema), async (ctx: AppContext) => {
    auth.throttle.checkAllowed(ctx.ip);
    const session = await auth.sessions.redeem(inputOf(ctx, signInSchema).code);
    if (!session) return authenticationFailed(auth, ctx, 'this sign-in code is unknown, used or expired; ask for a new link');
    await auth.store.insertAudit({ at: auth.now(), actor: 'admin', role: 'admin', action: 'session.create', target: null, ip: ctx.ip });
    ctx.status = 201;
    ctx.body = { token: session.token, expiresAt: new Date(session.expiresAt).toISOString() } satisfies SignInResponse;
  });

  // Any token may ask (a browser does not know which kind it holds); only a session token is ended by it.
  router.delete('/', allow('submit', 'worker', 'join'), async (ctx: AppContext) => {
    const principal = principalOf(ctx);
    if (await auth.sessions.end(bearerToken(ctx.get('authorization'))!)) {
      await auth.store.insertAudit({ at: auth.now(), actor: principal.name, role: principal.role, action: 'session.end', target: null, ip: ctx.ip });
    }
    ctx.status = 204;
  });

  return router;
}
