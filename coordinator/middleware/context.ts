import type { RouterContext } from '@koa/router';
import type { Principal } from '../services/tokens';

export interface AppState {
  principal: Principal | null;
  input: unknown;
}
export type AppContext = RouterContext<AppState>;
