// Starts a real coordinator on a free 127.0.0.1 port with a temp data dir, for tests.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../coordinator/app';
import type { Logger } from '../coordinator/middleware/errors';
import type { RegisterWorkerRequest } from '../protocol/api';
import { ApiClient } from '../protocol/client';

export const quietLogger: Logger = {
  info: () => {},
  warn: () => {},
  error: (message, fields) => console.error(message, fields ?? ''),
};

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
