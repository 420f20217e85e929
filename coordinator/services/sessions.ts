// Browser sign-in without the admin token in a link: the coordinator prints a link with a one-time code, the
// page exchanges it (POST, so it never sits in a URL the server logs) for a session token that expires.
// Both live in the store as SHA-256 hashes, with their expiry judged by the store's clock: coordinators sharing a
// database redeem each other's codes (once, whichever nodes race) and know each other's sessions, and a restart
// keeps them. Signing out deletes the session: the next request with it is refused on every node. The retention
// sweep deletes the expired ones.
import { randomBytes } from 'node:crypto';
import type { Role } from '../../protocol/api';
import type { Store } from '../store/types';
import { hashToken, type Principal } from './tokens';

const SESSION_PREFIX = 'cmdx_session_';

export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly ttl: { codeSec: number; sessionSec: number },
  ) {}

  /** A code good for one sign-in as this person, within the code's lifetime. */
  async issueCode(name: string, role: Role): Promise<string> {
    const code = randomBytes(18).toString('base64url');
    await this.store.insertSignIn({ hash: hashToken(code), kind: 'code', name, role, expiresAt: this.now() + this.ttl.codeSec * 1000 });
    return code;
  }

  /** The session token for a valid code (which is used up), or null. */
  async redeem(code: string): Promise<{ token: string; expiresAt: number } | null> {
    const token = `${SESSION_PREFIX}${randomBytes(24).toString('base64url')}`;
    return this.store.transaction(async (tx) => {
      const now = this.now();
      const entry = await tx.takeSignInCode(hashToken(code), now);
      if (!entry) return null;
      const expiresAt = now + this.ttl.sessionSec * 1000;
      await tx.insertSignIn({ hash: hashToken(token), kind: 'session', name: entry.name, role: entry.role, expiresAt });
      return { token, expiresAt };
    });
  }

  /** Signs out: the session token stops working on every coordinator at once. False when it is no live session. */
  async end(token: string): Promise<boolean> {
    return token.startsWith(SESSION_PREFIX) && this.store.deleteSession(hashToken(token));
  }

  async authenticate(token: string): Promise<Principal | null> {
    // Only a session token is looked for: any other bearer costs no second query.
    if (!token.startsWith(SESSION_PREFIX)) return null;
    const session = await this.store.findSession(hashToken(token), this.now());
    return session ? { tokenId: `session:${session.name}`, name: session.name, role: session.role, workerId: null } : null;
  }
}
