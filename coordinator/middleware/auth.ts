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

/** Where a request came from and what it asked for: what a failed authentication is audited with. */
export interface RequestOrigin {
  ip: string;
  path: string;
}

/** A failed authentication is audited, counted against the address and answered late, or refused (429). */
export async function authenticationFailed(auth: Authenticators, origin: RequestOrigin, why: string): Promise<never> {
  await auth.store.insertAudit({ at: auth.now(), actor: 'anonymous', role: 'none', action: 'auth.failed', target: origin.path, ip: origin.ip });
  await auth.throttle.failed(origin.ip);
  throw new AuthenticationError(why);
}

/** The token of an Authorization header ("Bearer <token>"), or null when it is not one. */
export const bearerToken = (header: string): string | null => /^Bearer\s+(\S{1,512})$/i.exec(header)?.[1] ?? null;

/**
 * Who the Authorization header says the caller is (null without one); throws the answer to a bad, unknown or
 * revoked token. The one check for Koa's chain and for the claims answered before it (routes/workers/claim.ts).
 */
export async function readPrincipal(auth: Authenticators, header: string | undefined, origin: RequestOrigin): Promise<Principal | null> {
  if (!header) return null;
  auth.throttle.checkAllowed(origin.ip);
  const token = bearerToken(header);
  if (!token) return authenticationFailed(auth, origin, 'the Authorization header must be "Bearer <token>"');
  const principal = (await auth.tokens.authenticate(token)) ?? (await auth.sessions.authenticate(token));
  if (principal) return principal;
  // A removed worker must stop rather than join again as a new one: it needs to know it was revoked.
  if (await auth.tokens.wasRevoked(token)) throw new AuthenticationError('this token was revoked', 'token_revoked');
  return authenticationFailed(auth, origin, 'this token is unknown, expired or revoked');
}

export function authenticate(auth: Authenticators) {
  return async function readBearer(ctx: AppContext, next: Next): Promise<void> {
    ctx.state.principal = await readPrincipal(auth, ctx.get('authorization') || undefined, ctx);
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
  return requireWorkerSelf(ctx.state.principal, ctx.params.id as string);
}

/** The same check where there is no Koa context: the caller must be worker `id` itself. */
export function requireWorkerSelf(principal: Principal | null, id: string): string {
  if (!principal) throw new AuthenticationError();
  if (principal.role !== 'worker' || principal.workerId !== id) {
    throw new AuthorizationError(`only worker ${id}'s own token may do this`);
  }
  return id;
}
