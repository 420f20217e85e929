import type { RouterContext } from '@koa/router';
import type { Principal } from '../services/tokens';

export interface AppState {
  principal: Principal | null;
  input: unknown;
  /** The submit's Idempotency-Key header, checked before its body is read (POST /jobs). */
  idempotencyKey?: string | undefined;
}
export type AppContext = RouterContext<AppState>;
