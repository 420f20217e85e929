// Serves the built React UI (dist/renderer) at `/`, with the SPA's index.html for any other page path.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Next } from 'koa';
import serve from 'koa-static';
import type { AppContext } from '../../middleware/context';

export function staticUi(dir: string | undefined) {
  if (!dir || !existsSync(join(dir, 'index.html'))) return (_ctx: AppContext, next: Next) => next();
  const index = join(dir, 'index.html');
  const files = serve(dir, { index: 'index.html' });
  return async function serveUi(ctx: AppContext, next: Next): Promise<void> {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith('/api/')) return next();
    await files(ctx, next);
    if (ctx.status === 404 && ctx.body === undefined && !ctx.path.includes('.') && ctx.accepts('html')) {
      ctx.type = 'html';
      ctx.body = createReadStream(index);
    }
  };
}
