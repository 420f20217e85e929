// The store's isolation: one connection serves every caller, so a standalone call made while another caller's
// transaction is open must neither join it (and vanish with its rollback) nor read what it has not committed.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../test/pool';
import { SqliteStore } from './sqlite';
import type { TokenRecord, WorkerRecord } from './types';

const worker: WorkerRecord = {
  id: 'wkr_1', name: 'w', os: 'linux', arch: null, cpus: null, memoryBytes: null, labels: [], slots: 1, version: null, protocolVersion: null,
  isolation: null, registeredAt: 1, lastSeenAt: 1, reportedState: 'active', adminState: 'active',
};
const token: TokenRecord = { id: 'tok_1', name: 'worker:w', role: 'worker', hash: 'h1', workerId: 'wkr_1', createdAt: 1, revokedAt: null, expiresAt: null, usesLeft: null };

/** A transaction held open (inserting `worker`) until `finish` is called; it then fails or commits. */
function heldTransaction(store: SqliteStore, outcome: 'fail' | 'commit') {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const done = store.transaction(async (tx) => {
    await tx.insertWorker(worker);
    opened();
    await finished;
    if (outcome === 'fail') throw new Error('the other request failed');
  });
  return { open, finish, done };
}

describe('SqliteStore isolation', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await makeTempDir('cmdx-store-');
    store = new SqliteStore({ file: join(dir, 'store.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a standalone write during another transaction is not rolled back with it', async () => {
    const other = heldTransaction(store, 'fail');
    await other.open;
    const write = store.insertToken(token);
    other.finish();
    await expect(other.done).rejects.toThrow('the other request failed');
    await write;
    expect(await store.findTokenByHash('h1')).toMatchObject({ id: 'tok_1' });
    expect(await store.getWorker('wkr_1')).toBeUndefined();
  });

  it('a standalone read during another transaction does not see its uncommitted rows', async () => {
    const other = heldTransaction(store, 'fail');
    await other.open;
    const read = store.getWorker('wkr_1');
    other.finish();
    await expect(other.done).rejects.toThrow();
    expect(await read).toBeUndefined();
  });

  it('a standalone read queued behind a transaction sees what it committed', async () => {
    const other = heldTransaction(store, 'commit');
    await other.open;
    const read = store.getWorker('wkr_1');
    other.finish();
    await other.done;
    expect(await read).toMatchObject({ id: 'wkr_1' });
  });
});
