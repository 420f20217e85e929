// Starts a real coordinator on a free 127.0.0.1 port with a temp data dir, for tests.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../coordinator/app';
import { PostgresStore } from '../coordinator/store/postgres';
import { SqliteStore } from '../coordinator/store/sqlite';
import type { Store } from '../coordinator/store/types';
import type { Logger } from '../coordinator/middleware/errors';
import type { RegisterWorkerRequest } from '../protocol/api';
import { ApiClient } from '../protocol/client';
import { createDatabase } from './postgres';

/**
 * The store the coordinator tests run on: SQLite, or with CMDX_TEST_STORE=postgres (the `postgres` vitest
 * project) a database of its own in the run's PostgreSQL cluster for each data dir.
 */
export const testStore: 'sqlite' | 'postgres' = process.env.CMDX_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
const databases = new Map<string, string>();

async function databaseOf(dataDir: string): Promise<string> {
  let url = databases.get(dataDir);
  if (!url) {
    const { inject } = await import('vitest');
    databases.set(dataDir, (url = await createDatabase(inject('postgresUrl'))));
  }
  return url;
}

export const quietLogger: Logger = {
  info: () => {},
  warn: () => {},
  error: (message, fields) => console.error(message, fields ?? ''),
};

/** The store of the coordinator with this data dir, opened as another process (the CLI) opens it. */
export async function openStoreOf(dataDir: string): Promise<Store> {
  return testStore === 'postgres'
    ? PostgresStore.open({ url: await databaseOf(dataDir) })
    : new SqliteStore({ file: join(dataDir, 'coordinator.sqlite') });
}

/** Rows of a read-only query on that store, SQL both backends speak: what a test checks was (not) written. */
export async function queryStoreOf(dataDir: string, sql: string): Promise<Record<string, unknown>[]> {
  if (testStore === 'postgres') {
    const store = await PostgresStore.open({ url: await databaseOf(dataDir) });
    try {
      return await store.rows(sql);
    } finally {
      await store.close();
    }
  }
  const db = new Database(join(dataDir, 'coordinator.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

export interface TestCoordinator {
  coordinator: Coordinator;
  url: string;
  adminToken: string;
  joinToken: string;
  dataDir: string;
  /** Stops the coordinator and removes its data dir (unless `keepData`). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export async function makeTempDir(prefix = 'cmdx-test-'): Promise<string> {
  return mkdtemp(join(os.tmpdir(), prefix));
}

export async function startTestCoordinator(overrides: Partial<CoordinatorOptions> = {}): Promise<TestCoordinator> {
  const dataDir = overrides.dataDir ?? (await makeTempDir());
  const coordinator = createCoordinator({
    host: '127.0.0.1',
    port: 0,
    staticDir: null,
    logger: quietLogger,
    ...(testStore === 'postgres' ? { database: await databaseOf(dataDir) } : {}),
    ...overrides,
    dataDir,
  });
  await coordinator.start();
  let stopped = false;
  return {
    coordinator,
    url: coordinator.url,
    adminToken: coordinator.adminToken,
    joinToken: coordinator.joinToken,
    dataDir,
    async stop({ keepData = false } = {}) {
      if (!stopped) await coordinator.stop();
      stopped = true;
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A worker speaking the protocol by hand: for tests of the coordinator that need no real agent. */
export async function registerTestWorker(
  url: string,
  joinToken: string,
  request: Partial<RegisterWorkerRequest> = {},
): Promise<{ id: string; token: string; client: ApiClient }> {
  const joiner = new ApiClient({ baseUrl: url, token: joinToken });
  const registered = await joiner.registerWorker({ name: 'test-worker', os: 'linux', ...request });
  return {
    id: registered.worker.id,
    token: registered.token,
    client: new ApiClient({ baseUrl: url, token: registered.token }),
  };
}
