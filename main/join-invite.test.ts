// Opening an invite link, through the code the desktop app runs (main/join-invite.ts) against a real coordinator
// over HTTPS with its own certificate: hostile links are refused with a reason, a link whose fingerprint is not the
// server's is refused before anything is sent, and a good one fills the settings the PC then joins with.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client';
import { joinLink, parseJoinLink } from '../protocol/join-link';
import { makeTempDir, startTestCoordinator, type TestCoordinator } from '../test/pool';
import { transportFetch } from './agent/transport';
import { confirmation, joinLinkIn, joinPatch, prepareJoin } from './join-invite';
import { SettingsStore } from './settings';

const FP = Array.from({ length: 32 }, () => 'AB').join(':');
const good = { url: 'https://pool-pc:8443', code: 'cmdx_join_abc', fingerprint: FP };

describe('an invite link', () => {
  it('round-trips, with the fingerprint in any case and with or without colons', () => {
    expect(parseJoinLink(joinLink(good))).toEqual(good);
    expect(parseJoinLink(`cmdx://join?url=https://pool-pc:8443/&code=cmdx_join_abc&fp=${FP.replace(/:/g, '').toLowerCase()}`)).toEqual(good);
  });

  it.each([
    ['not a link at all', 'join the pool please', /not a link/],
    ['the wrong scheme', joinLink(good).replace(/^cmdx:/, 'https:'), /https: link, not an invite/],
    ['another cmdx: action', joinLink(good).replace('//join', '//leave'), /not an invite/],
    ['no code', `cmdx://join?url=https://pool-pc:8443&fp=${FP}`, /no enrollment code/],
    ['two codes', `${joinLink(good)}&code=other`, /code= twice/],
    ['a code with spaces', joinLink({ ...good, code: 'a b' }), /not a code/],
    ['an http URL', joinLink({ ...good, url: 'http://pool-pc:8443' }), /http:\/\/, not https:\/\/.*clear text/],
    ['a URL with credentials', joinLink({ ...good, url: 'https://me:pw@pool-pc:8443' }), /user name or password/],
    ['a URL with a path', joinLink({ ...good, url: 'https://pool-pc:8443/elsewhere' }), /path or query/],
    ['a bad fingerprint', joinLink({ ...good, fingerprint: 'AB:CD' }), /not a SHA-256 fingerprint/],
    ['no fingerprint', `cmdx://join?url=https://pool-pc:8443&code=x`, /no certificate fingerprint/],
  ])('with %s is refused with a reason', (_what, link, reason) => {
    expect(() => parseJoinLink(link)).toThrow(reason);
  });

  it('is found among the arguments Windows and Linux start the app with', () => {
    expect(joinLinkIn(['/opt/cmd-executor/cmd-executor', '--hidden', joinLink(good)])).toBe(joinLink(good));
    expect(joinLinkIn(['/opt/cmd-executor/cmd-executor'])).toBeNull();
  });
});

describe('joining from an invite link', () => {
  let pool: TestCoordinator;
  beforeAll(async () => {
    pool = await startTestCoordinator({ tls: 'self-signed', name: 'Office pool', version: '4.5.6' });
  });
  afterAll(() => pool.stop());

  it('shows the pool’s name and fingerprint, then fills the settings the PC joins with', async () => {
    const invite = await pool.coordinator.createInvite();
    expect(invite.link).toBe(joinLink({ url: pool.url, code: invite.code, fingerprint: pool.coordinator.fingerprint! }));
    const proposal = await prepareJoin(invite.link!);
    expect(proposal.pool).toMatchObject({ name: 'Office pool', version: '4.5.6', fingerprint: pool.coordinator.fingerprint });

    const dir = await makeTempDir('cmdx-join-');
    try {
      const { store } = await SettingsStore.open(path.join(dir, 'settings.json'));
      await store.update({ hostPool: true });
      const question = confirmation(proposal, store.get());
      expect(question.message).toBe('Join the pool “Office pool”?');
      expect(question.detail).toContain(`Certificate SHA-256: ${pool.coordinator.fingerprint}`);
      expect(question.detail).toContain('stops hosting its own pool');
      const settings = await store.update(joinPatch(proposal, store.get()));
      expect(settings).toMatchObject({ hostPool: false, coordinatorUrls: [pool.url], coordinatorFingerprint: pool.coordinator.fingerprint, joinToken: invite.code });
      // What the app's agent does next: join over the pinned connection with the code.
      const pinned = transportFetch(settings.coordinatorUrls, { fingerprint: settings.coordinatorFingerprint });
      const joined = await new ApiClient({ baseUrl: pool.url, token: settings.joinToken, fetch: pinned }).registerWorker({ name: 'new-pc', os: 'linux' });
      expect(joined.worker.name).toBe('new-pc');

      // An invite from a node already listed keeps the pool's other nodes; one from elsewhere replaces the list.
      const otherNode = 'https://pool-b.example:8443';
      await store.update({ coordinatorUrls: [otherNode, pool.url] });
      expect(confirmation(proposal, store.get()).detail).not.toContain('It leaves');
      expect(joinPatch(proposal, store.get()).coordinatorUrls).toEqual([otherNode, pool.url]);
      await store.update({ coordinatorUrls: [otherNode] });
      expect(confirmation(proposal, store.get()).detail).toContain(`It leaves ${otherNode}.`);
      expect(joinPatch(proposal, store.get()).coordinatorUrls).toEqual([pool.url]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('is refused when the server’s certificate is not the one in the link', async () => {
    const invite = await pool.coordinator.createInvite();
    const forged = joinLink({ url: pool.url, code: invite.code, fingerprint: FP });
    await expect(prepareJoin(forged)).rejects.toThrow(/cannot check the pool .*not the pinned one/);
  });

  it('is refused when the server is not a pool', async () => {
    const notAPool = () => (async () => Response.json({ hello: 'world' })) as typeof fetch;
    await expect(prepareJoin(joinLink(good), notAPool)).rejects.toThrow(/not a cmd-executor pool/);
  });
});
