// Before a submission is read: the token's per-minute caps (admins are not capped) and, for uploads, room on disk.
import type { Next } from 'koa';
import type { Services } from '../services/container';
import { requireFreeSpace } from '../services/limits';
import { principalOf } from './auth';
import type { AppContext } from './context';

export function submissionLimits(services: Services) {
  return async function checkSubmissionLimits(ctx: AppContext, next: Next): Promise<void> {
    const principal = principalOf(ctx);
    const bytes = Number(ctx.get('content-length')) || 0;
    const capped = principal.role !== 'admin';
    if (capped) services.limits.quota.take(principal.tokenId, bytes);
    if (ctx.is('multipart')) await requireFreeSpace(services.uploads.tmpDir, bytes, services.limits.minFreeDiskBytes);
    await next();
    // A chunked upload announced no length: count what was stored once it is known.
    const bundle = (ctx.body as { job?: { bundle?: { size: number } | null } } | undefined)?.job?.bundle;
    if (capped && !bytes && bundle) services.limits.quota.addBytes(principal.tokenId, bundle.size);
  };
}
