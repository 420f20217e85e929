// Browser sign-in without the admin token in a link: the coordinator prints a link with a one-time code, the
// page exchanges it (POST, so it never sits in a URL the server logs) for a session token that expires.
// Both live in memory: a restart ends the sessions, and a new link is printed.
import { randomBytes } from 'node:crypto';
import type { Role } from '../../protocol/api';
import { hashToken, type Principal } from './tokens';

interface Session {
  principal: Principal;
  expiresAt: number;
}

export class SessionService {
  private readonly codes = new Map<string, { principal: Principal; expiresAt: number }>();
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    private readonly ttl: { codeSec: number; sessionSec: number },
  ) {}

  /** A code good for one sign-in as this person, within the code's lifetime. */
  issueCode(name: string, role: Role): string {
    const code = randomBytes(18).toString('base64url');
    this.codes.set(hashToken(code), {
      principal: { tokenId: `session:${name}`, name, role, workerId: null },
      expiresAt: this.now() + this.ttl.codeSec * 1000,
    });
    return code;
  }

  /** The session token for a valid code (which is used up), or null. */
  redeem(code: string): { token: string; expiresAt: number } | null {
    const key = hashToken(code);
    const entry = this.codes.get(key);
    this.codes.delete(key);
    if (!entry || entry.expiresAt <= this.now()) return null;
    const token = `cmdx_session_${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.now() + this.ttl.sessionSec * 1000;
    this.sessions.set(hashToken(token), { principal: entry.principal, expiresAt });
    return { token, expiresAt };
  }

  authenticate(token: string): Principal | null {
    const key = hashToken(token);
    const session = this.sessions.get(key);
    if (!session) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(key);
      return null;
    }
    return session.principal;
  }
}
