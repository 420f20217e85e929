// Enrollment: a worker joins with an invite, a join token limited in uses and time that an admin makes and may
// revoke. The pool's long-lived join token (DIR/join.token) is an invite without limits, revocable the same way.
import { randomBytes } from 'node:crypto';
import type { CreatedInvite, Invite } from '../../protocol/api';
import { joinLink } from '../../protocol/join-link';
import { TRUST_DEFAULTS } from '../../protocol/limits';
import type { TokenRecord } from '../store/types';
import type { TokenService } from './tokens';

const INVITE_PREFIX = 'invite:';

const view = (t: TokenRecord): Invite => ({
  id: t.id,
  usesLeft: t.usesLeft,
  expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
  createdAt: new Date(t.createdAt).toISOString(),
});

/** What to run on the new worker: the code travels in the environment, never on a command line. */
export function joinCommand(server: string, code: string, fingerprint: string | null): string {
  const pin = fingerprint ? ` --fingerprint ${fingerprint}` : '';
  return `CMDX_JOIN_TOKEN=${code} npm run -s worker -- --server ${server}${pin}`;
}

/** Where the coordinator shows an invite's link and QR code: the code is the page's address, as the link is. */
export function joinPageUrl(server: string, code: string): string {
  return `${server.replace(/\/+$/, '')}/join/${encodeURIComponent(code)}`;
}

export class InviteService {
  constructor(
    private readonly tokens: TokenService,
    private readonly now: () => number,
  ) {}

  async create(
    options: { uses?: number; expiresInSec?: number },
    server: string,
    fingerprint: string | null,
  ): Promise<CreatedInvite> {
    const { token: code, record } = await this.tokens.issue(`${INVITE_PREFIX}${randomBytes(4).toString('hex')}`, 'join', {
      usesLeft: options.uses ?? TRUST_DEFAULTS.inviteUses,
      expiresAt: this.now() + (options.expiresInSec ?? TRUST_DEFAULTS.inviteTtlSec) * 1000,
    });
    const https = fingerprint !== null && server.startsWith('https:');
    return {
      ...view(record),
      code,
      command: joinCommand(server, code, fingerprint),
      fingerprint,
      link: https ? joinLink({ url: server, code, fingerprint }) : null,
      page: https ? joinPageUrl(server, code) : null,
    };
  }

  /** The invite this code is while it can still enroll a worker (live, not used up); null otherwise. */
  async live(code: string): Promise<Invite | null> {
    const record = await this.tokens.record(code);
    const now = this.now();
    const usable =
      record?.role === 'join' &&
      record.name.startsWith(INVITE_PREFIX) &&
      !record.revokedAt &&
      (record.expiresAt === null || record.expiresAt > now) &&
      (record.usesLeft === null || record.usesLeft > 0);
    return usable ? view(record) : null;
  }

  /** Live invites (not the pool's join token), newest first. */
  async list(): Promise<Invite[]> {
    const now = this.now();
    return (await this.tokens.list())
      .filter((t) => t.role === 'join' && t.name.startsWith(INVITE_PREFIX) && !t.revokedAt && (t.expiresAt === null || t.expiresAt > now))
      .map(view)
      .reverse();
  }

  revoke(id: string): Promise<number> {
    return this.tokens.revoke({ id });
  }
}
