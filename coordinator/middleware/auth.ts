// Bearer-token authentication and role checks. The admin role may do everything a submitter may; a worker
// token acts only for its own worker (routes check the worker id and the lease's owner).
import type { Next } from 'koa';
import type { Role } from '../../protocol/api';
import { AuthenticationError, AuthorizationError } from '../errors';
import type { AuthThrottle } from '../services/limits';
import type { SessionService } from '../services/sessions';
import type { Principal, TokenService } from '../services/tokens';
import type { Store } from '../store/types';
import type { AppContext } from './context';

export interface Authenticators {
  tokens: TokenService;
  sessions: SessionService;
  throttle: AuthThrottle;
  store: Store;
  now: () => number;
}

/** A failed authentication is audited, counted against the address and answered late, or refused (429). */
export async function authenticationFailed(auth: Authenticators, ctx: AppContext, why: string): Promise<never> {
  await auth.store.insertAudit({ at: auth.now(), actor: 'anonymous', role: 'none', action: 'auth.failed', target: ctx.path, ip: ctx.ip });
  await auth.throttle.failed(ctx.ip);
  throw new AuthenticationError(why);
}

export function authenticate(auth: Authenticators) {
  return async function readBearer(ctx: AppContext, next: Next): Promise<void> {
    ctx.state.principal = null;
    const header = ctx.get('authorization');
    if (header) {
      auth.throttle.checkAllowed(ctx.ip);
      const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
      if (!match) return authenticationFailed(auth, ctx, 'the Authorization header must be "Bearer <token>"');
      const principal = (await auth.tokens.authenticate(match[1]!)) ?? auth.sessions.authenticate(match[1]!);
      if (!principal) {
        // A removed worker must stop rather than join again as a new one: it needs to know it was revoked.
        if (await auth.tokens.wasRevoked(match[1]!)) throw new AuthenticationError('this token was revoked', 'token_revoked');
        return authenticationFailed(auth, ctx, 'this token is unknown, expired or revoked');
      }
      ctx.state.principal = principal;
    }
    await next();
  };
}

const ROLE_NAMES: Record<Role, string> = {
  admin: 'an admin token',
  submit: 'a submit (or admin) token',
  worker: 'a worker token',
  join: 'the join token',
};

export function principalOf(ctx: AppContext): Principal {
  if (!ctx.state.principal) throw new AuthenticationError();
  return ctx.state.principal;
}

/** Allows the given roles; `submit` implies admin too. */
export function allow(...roles: Role[]) {
  const accepted = new Set<Role>(roles.includes('submit') ? [...roles, 'admin'] : roles);
  return async function checkRole(ctx: AppContext, next: Next): Promise<void> {
    const principal = principalOf(ctx);
    if (!accepted.has(principal.role)) {
      throw new AuthorizationError(`this needs ${roles.map((r) => ROLE_NAMES[r]).join(' or ')}; yours is a ${principal.role} token`);
    }
    await next();
  };
}

/** For /workers/:id/...: the token must be that worker's own. */
export function workerSelf(ctx: AppContext): string {
  const principal = principalOf(ctx);
  const id = ctx.params.id as string;
  if (principal.role !== 'worker' || principal.workerId !== id) {
    throw new AuthorizationError(`only worker ${id}'s own token may do this`);
  }
  return id;
}
