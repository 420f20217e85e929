// Writes who did what, when and from where for each successful mutating call (and for reads worth knowing of:
// claims, bundle and artifact downloads).
import type { Next } from 'koa';
import type { Store } from '../store/types';
import type { AppContext } from './context';

export function audited(
  store: Store,
  now: () => number,
  action: string,
  target?: (ctx: AppContext) => string | null,
  options: { skipEmpty?: boolean } = {},
) {
  return async function writeAudit(ctx: AppContext, next: Next): Promise<void> {
    await next();
    // Answered outside the chain (a parked long poll, see long-poll.ts): the route writes its entry with the answer.
    if (ctx.respond === false) return;
    if (ctx.status >= 400 || (options.skipEmpty && ctx.status === 204)) return;
    await auditEntry(store, now, ctx, action, target ? target(ctx) : ((ctx.params?.id as string | undefined) ?? null));
  };
}

export async function auditEntry(store: Store, now: () => number, ctx: AppContext, action: string, target: string | null): Promise<void> {
  const principal = ctx.state.principal;
  await store.insertAudit({ at: now(), actor: principal?.name ?? 'anonymous', role: principal?.role ?? 'none', action, target, ip: ctx.ip });
}
