// The invite's https page, /join/<code>: the cmdx:// link (opens the desktop app, which asks its owner to
// join), its QR code for a phone or a second screen, the fingerprint to compare, and the command for a headless
// worker. The code is the page's address, as it is the link's: whoever has one has the other. Viewing it uses
// nothing up; the page answers only while the invite can still enroll a worker.
import Router from '@koa/router';
import { joinLink } from '../../../protocol/join-link';
import { qrPath } from '../../../protocol/qr';
import type { AppContext, AppState } from '../../middleware/context';
import type { Services } from '../../services/container';
import { joinCommand } from '../../services/invites';

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
code{word-break:break-all;background:#f3f3f3;padding:.1rem .3rem}svg{width:16rem;height:16rem;display:block;margin:1rem 0}</style>
</head><body>
${body}
</body></html>
`;

export function joinPageRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/join/:code', async (ctx: AppContext) => {
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    const code = ctx.params.code!;
    const invite = await services.invites.live(code);
    const { url, fingerprint, name } = services.pool;
    if (!invite || !fingerprint || !url.startsWith('https:')) {
      ctx.status = 404;
      ctx.body = page(
        'Invite not valid',
        `<h1>This invite cannot be used</h1><p>It expired, was used up or revoked${fingerprint ? '' : ', or this pool serves plain HTTP (invite links need HTTPS)'}. Ask the pool's admin for a new one.</p>`,
      );
      return;
    }
    const link = joinLink({ url, code, fingerprint });
    const qr = qrPath(link);
    ctx.body = page(
      `Join ${name}`,
      `<h1>Join the pool “${escapeHtml(name)}”</h1>
<p><a href="${escapeHtml(link)}">Open in cmd-executor</a> (the desktop app asks you to confirm first), or scan:</p>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="${qr.viewBox}" shape-rendering="crispEdges" role="img" aria-label="QR code of the invite link"><rect x="-4" y="-4" width="100%" height="100%" fill="#fff"/><path fill="#000" d="${qr.d}"/></svg>
<p>Invite link: <code id="link">${escapeHtml(link)}</code></p>
<p>The app shows the pool's certificate SHA-256 before joining; it must be <code id="fingerprint">${escapeHtml(fingerprint)}</code>.</p>
<p>On a headless machine, run: <code>${escapeHtml(joinCommand(url, code, fingerprint))}</code></p>
<p>Valid until ${escapeHtml(invite.expiresAt ?? 'revoked or used up')}${invite.usesLeft === null ? '' : `, for ${invite.usesLeft} more worker${invite.usesLeft === 1 ? '' : 's'}`}.</p>`,
    );
  });

  return router;
}
