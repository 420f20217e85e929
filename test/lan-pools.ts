// Run inside a network namespace of its own (main/agent/discovery.test.ts): starts coordinators as on an office
// LAN (bound to every address, so HTTPS with their own certificates, announced over mDNS), then finds them the
// two ways a person does, in this process (what the desktop app calls) and with `worker --discover`, and prints
// what it saw as JSON. Usage: node --import tsx test/lan-pools.ts DIR
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCoordinator } from '../coordinator/app';
import { discoverPools } from '../main/agent/discovery';
import { transportFetch } from '../main/agent/transport';
import { quietLogger } from './pool';

const dir = process.argv[2]!;
const repo = fileURLToPath(new URL('..', import.meta.url));
const start = async (name: string, advertise: boolean) => {
  const coordinator = createCoordinator({ dataDir: join(dir, name), host: '0.0.0.0', port: 0, staticDir: null, logger: quietLogger, name, version: '9.8.7', advertise });
  await coordinator.start();
  return coordinator;
};
const started = [await start('pool-a', true), await start('pool-b', true), await start('pool-quiet', false)];
try {
  const found = await discoverPools({ timeoutMs: 10_000, enough: (pools) => pools.length >= 2 });
  // Not spawnSync: the coordinators answering its queries live in this process's event loop.
  const cli = await promisify(execFile)(process.execPath, [join(repo, 'bin/worker.js'), '--discover'], { encoding: 'utf8', timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ status: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
  // The URL and fingerprint found are enough to reach the pool over a pinned connection.
  const answers = await Promise.all(
    found.map(async (pool) => (await transportFetch(pool.url, { fingerprint: pool.fingerprint! })(`${pool.url}/api/v1/pool`)).json()),
  );
  const coordinators = started.map((c) => ({ port: Number(new URL(c.url).port), fingerprint: c.fingerprint }));
  process.stdout.write(JSON.stringify({ coordinators, found, answers, cli }));
} finally {
  for (const coordinator of started) await coordinator.stop();
}
