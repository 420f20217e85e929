// The invite's https page on a real coordinator (real Koa, real port, its own certificate): it shows the cmdx://
// link and its QR code while the invite can enroll, uses nothing up, and turns into a plain "not valid" page after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { joinLink } from '../../protocol/join-link';
import { qrPath } from '../../protocol/qr';
import { expectApiError } from '../../test/api-error';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { transportFetch } from '../../main/agent/transport';

const unescape = (html: string) => html.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'");

describe('the join page', () => {
  let pool: TestCoordinator;
  let pinned: typeof fetch;
  let get: (url: string) => Promise<{ status: number; type: string; html: string }>;
  beforeAll(async () => {
    pool = await startTestCoordinator({ tls: 'self-signed', name: 'Design <team>' });
    pinned = transportFetch(pool.url, { fingerprint: pool.coordinator.fingerprint! });
    get = async (url) => {
      const response = await pinned(url, { headers: { accept: 'text/html' } });
      return { status: response.status, type: response.headers.get('content-type') ?? '', html: await response.text() };
    };
  });
  afterAll(() => pool.stop());

  it('shows the invite link and its QR code, and viewing it uses nothing up', async () => {
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken, fetch: pinned });
    const invite = await admin.createInvite({ uses: 1, expiresInSec: 600 });
    const link = joinLink({ url: pool.url, code: invite.code, fingerprint: pool.coordinator.fingerprint! });
    expect(invite.link).toBe(link);
    expect(invite.page).toBe(`${pool.url}/join/${encodeURIComponent(invite.code)}`);

    const page = await get(invite.page!);
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(unescape(/<code id="link">([^<]*)<\/code>/.exec(page.html)![1]!)).toBe(link);
    expect(unescape(/<a href="([^"]*)">Open in cmd-executor/.exec(page.html)![1]!)).toBe(link);
    expect(page.html).toContain(`<path fill="#000" d="${qrPath(link).d}"/>`);
    expect(page.html).toContain(`<code id="fingerprint">${pool.coordinator.fingerprint}</code>`);
    expect(page.html).toContain('Join the pool “Design &lt;team&gt;”');
    expect(page.html).not.toContain('<team>');
    await get(invite.page!);

    // Still one use left after two views: the worker joins, and then the page says the invite is spent.
    const joiner = new ApiClient({ baseUrl: pool.url, token: invite.code, fetch: pinned });
    await joiner.registerWorker({ name: 'joined', os: 'linux' });
    const spent = await get(invite.page!);
    expect(spent.status).toBe(404);
    expect(spent.html).toContain('This invite cannot be used');
    expect(spent.html).not.toContain(invite.code);
    await expectApiError(joiner.registerWorker({ name: 'second', os: 'linux' }), 401);
  });

  it('answers "not valid" for a code that was never an invite, and for the pool join token', async () => {
    expect((await get(`${pool.url}/join/cmdx_join_madeup`)).status).toBe(404);
    expect((await get(`${pool.url}/join/${encodeURIComponent(pool.joinToken)}`)).status).toBe(404);
  });
});

describe('an invite over plain HTTP', () => {
  it('has no link or page: the code would cross the network in clear text', async () => {
    const pool = await startTestCoordinator();
    try {
      const invite = await pool.coordinator.createInvite();
      expect([invite.link, invite.page]).toEqual([null, null]);
      expect((await fetch(`${pool.url}/join/${encodeURIComponent(invite.code)}`)).status).toBe(404);
    } finally {
      await pool.stop();
    }
  });
});
