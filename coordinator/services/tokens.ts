// Bearer tokens: random, shown once, stored as SHA-256. Lookups are cached briefly because every request
// authenticates; `token revoke` run from the CLI (another process) takes effect within CACHE_TTL_MS.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../protocol/api';
import { ConflictError } from '../errors';
import type { Store, TokenRecord } from '../store/types';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export const newToken = (role: Role): string => `cmdx_${role}_${randomBytes(24).toString('base64url')}`;

export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
  workerId: string | null;
}

const CACHE_TTL_MS = 5000;

export class TokenService {
  private readonly cache = new Map<string, { record: TokenRecord | null; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /**
   * Creates a token and returns it in clear (the only time it is seen). A person's name (submit and admin
   * tokens) is theirs alone: it is who owns their jobs, so a second live token of that name is refused.
   */
  async create(name: string, role: Role, workerId: string | null = null, token = newToken(role)): Promise<string> {
    return (await this.issue(name, role, { workerId, token })).token;
  }

  /** Like create, with limits (invites), returning the stored record too. */
  async issue(
    name: string,
    role: Role,
    options: { workerId?: string | null; token?: string; expiresAt?: number; usesLeft?: number } = {},
  ): Promise<{ token: string; record: TokenRecord }> {
    const token = options.token ?? newToken(role);
    if (role === 'submit' || role === 'admin') {
      const hash = hashToken(token);
      const taken = (await this.store.listTokens()).some((t) => t.name === name && !t.revokedAt && t.hash !== hash);
      if (taken) throw new ConflictError(`a live token is already named "${name}"; revoke it first or pick another name`, 'name_taken');
    }
    const record: TokenRecord = {
      id: randomUUID(),
      name,
      role,
      hash: hashToken(token),
      workerId: options.workerId ?? null,
      createdAt: this.now(),
      revokedAt: null,
      expiresAt: options.expiresAt ?? null,
      usesLeft: options.usesLeft ?? null,
    };
    const existing = await this.store.findTokenByHash(record.hash);
    if (existing && !existing.revokedAt) return { token, record: existing };
    if (existing) throw new Error(`that ${role} token was revoked; choose another`);
    await this.store.insertToken(record);
    this.cache.delete(record.hash);
    return { token, record };
  }

  /**
   * The coordinator's own token of this name (admin, join): a new one given at start replaces the old. False
   * when this very token was revoked: it stays revoked.
   */
  async replace(name: string, role: Role, token: string): Promise<boolean> {
    const hash = hashToken(token);
    if ((await this.store.findTokenByHash(hash))?.revokedAt) return false;
    for (const old of await this.store.listTokens()) {
      if (old.name === name && old.role === role && !old.revokedAt && old.hash !== hash) await this.revoke({ id: old.id });
    }
    await this.create(name, role, null, token);
    return true;
  }

  async authenticate(token: string): Promise<Principal | null> {
    const hash = hashToken(token);
    const now = this.now();
    let cached = this.cache.get(hash);
    if (!cached || now - cached.at > CACHE_TTL_MS || now < cached.at) {
      cached = { record: (await this.store.findTokenByHash(hash)) ?? null, at: now };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, cached);
    }
    const record = cached.record;
    if (!record || record.revokedAt || (record.expiresAt !== null && record.expiresAt <= now)) return null;
    return { tokenId: record.id, name: record.name, role: record.role, workerId: record.workerId };
  }

  /** The stored record of a token, whatever its state (revoked, expired, used up); null when it was never issued here. */
  async record(token: string): Promise<TokenRecord | null> {
    return (await this.store.findTokenByHash(hashToken(token))) ?? null;
  }

  /** Whether the token exists and was revoked (rather than never issued here): callers may tell the two apart. */
  async wasRevoked(token: string): Promise<boolean> {
    // Only a worker's: a used-up invite or a person's revoked token gets the one answer every failure gets.
    const record = await this.store.findTokenByHash(hashToken(token));
    return Boolean(record?.revokedAt) && record?.role === 'worker';
  }

  /** Takes one use of an invite (or another limited-use token); false when it is used up or expired. */
  async consumeUse(tokenId: string): Promise<boolean> {
    const taken = await this.store.consumeTokenUse(tokenId, this.now());
    this.cache.clear();
    return taken;
  }

  async revoke(filter: { id?: string; name?: string; workerId?: string }): Promise<number> {
    const count = await this.store.revokeTokens(filter, this.now());
    this.cache.clear();
    return count;
  }

  list(): Promise<TokenRecord[]> {
    return this.store.listTokens();
  }
}
