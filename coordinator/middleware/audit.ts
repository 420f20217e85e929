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
    if (ctx.status >= 400 || (options.skipEmpty && ctx.status === 204)) return;
    const principal = ctx.state.principal;
    const entryTarget = target ? target(ctx) : ((ctx.params?.id as string | undefined) ?? null);
    await store.insertAudit({ at: now(), actor: principal?.name ?? 'anonymous', role: principal?.role ?? 'none', action, target: entryTarget, ip: ctx.ip });
  };
}
