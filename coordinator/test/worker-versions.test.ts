// Keeping workers current: they report their version and protocol at registration; the workers view marks the ones
// older than the published update; a worker speaking a protocol the coordinator does not is told so in one line and
// given no job (refused at registration, and at its claims when the coordinator was upgraded under it).
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKER_PROTOCOL } from '../../protocol/versions';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { makeTempDir, registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { updateFeedDir } from '../app';
import { publishUpdate } from '../services/update-feed';
import { SqliteStore } from '../store/sqlite';

describe('worker versions', () => {
  let pool: TestCoordinator;
  afterEach(() => pool.stop());

  it('marks workers older than the published update, and those that say no version', async () => {
    const dataDir = await makeTempDir();
    const release = await makeTempDir('cmdx-release-');
    const installer = Buffer.from('an installer');
    await writeFile(join(release, 'cmd-executor-1.4.0.AppImage'), installer);
    const sha512 = createHash('sha512').update(installer).digest('base64');
    await writeFile(join(release, 'latest-linux.yml'), `version: 1.4.0\nfiles:\n  - url: cmd-executor-1.4.0.AppImage\n    sha512: ${sha512}\n`);
    await publishUpdate(release, updateFeedDir(dataDir));
    pool = await startTestCoordinator({ dataDir });
    await registerTestWorker(pool.url, pool.joinToken, { name: 'old', version: '1.3.9', protocolVersion: WORKER_PROTOCOL });
    await registerTestWorker(pool.url, pool.joinToken, { name: 'current', version: '1.4.0', protocolVersion: WORKER_PROTOCOL });
    await registerTestWorker(pool.url, pool.joinToken, { name: 'silent' });
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const workers = await admin.listWorkers();
    expect(Object.fromEntries(workers.map((w) => [w.name, w.outdated]))).toEqual({
      old: '1.3.9; 1.4.0 is published',
      current: null,
      silent: 'reports no version; 1.4.0 is published',
    });
    expect(workers.find((w) => w.name === 'current')!.protocolVersion).toBe(WORKER_PROTOCOL);
  });

  it('refuses a worker of another protocol in one line, before spending its enrollment code', async () => {
    pool = await startTestCoordinator();
    const older = await expectApiError(registerTestWorker(pool.url, pool.joinToken, { protocolVersion: 0 }), 426, 'protocol_unsupported');
    expect(older.message).toBe(`this coordinator speaks protocol ${WORKER_PROTOCOL}; this worker speaks 0: update it`);
    const newer = await expectApiError(registerTestWorker(pool.url, pool.joinToken, { protocolVersion: WORKER_PROTOCOL + 1 }), 426);
    expect(newer.message).toBe(`this coordinator speaks protocol ${WORKER_PROTOCOL}; this worker speaks ${WORKER_PROTOCOL + 1}: update the coordinator`);

    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const code = (await admin.createInvite({ uses: 1 })).code;
    await expectApiError(registerTestWorker(pool.url, code, { protocolVersion: 0 }), 426);
    await registerTestWorker(pool.url, code, { protocolVersion: WORKER_PROTOCOL });
  });

  it('a worker registered before an upgrade dropped its protocol gets no job, and is told why at its claim', async () => {
    pool = await startTestCoordinator();
    const worker = await registerTestWorker(pool.url, pool.joinToken, { protocolVersion: WORKER_PROTOCOL });
    await pool.stop({ keepData: true });
    // What an upgraded coordinator sees: a worker whose protocol is now below the oldest it serves.
    const store = new SqliteStore({ file: join(pool.dataDir, 'coordinator.sqlite') });
    await store.updateWorker(worker.id, { protocolVersion: 0 });
    await store.close();
    pool = await startTestCoordinator({ dataDir: pool.dataDir });
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await admin.submitJob({ commands: ['true'] });
    const again = new ApiClient({ baseUrl: pool.url, token: worker.token });
    const refused = await expectApiError(again.claim(worker.id, 0), 426, 'protocol_unsupported');
    expect(refused.message).toBe(`this coordinator speaks protocol ${WORKER_PROTOCOL}; this worker speaks 0: update it`);
    expect((await admin.listJobs()).jobs[0]!.state).toBe('queued');
  });
});
