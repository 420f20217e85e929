import { promises as fs } from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client';
import { makeTempDir, quietLogger } from '../test/pool';
import { PoolHost, lanUrls } from './pool-host';

let dataDir: string;
const hosts: PoolHost[] = [];

const host = (port = 0) => {
  const pool = new PoolHost({ dataDir, host: '127.0.0.1', port, staticDir: null, logger: quietLogger });
  hosts.push(pool);
  return pool;
};

beforeEach(async () => {
  dataDir = await makeTempDir('cmdx-pool-host-');
});
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('lanUrls', () => {
  it('lists the non-internal IPv4 addresses', () => {
    const v4 = (address: string, internal = false) =>
      ({ address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null }) as const;
    expect(
      lanUrls(8787, {
        lo: [v4('127.0.0.1', true)],
        eth0: [v4('192.168.1.20'), { ...v4('fe80::1'), family: 'IPv6', scopeid: 1 }],
        wlan0: [v4('10.0.0.7')],
      }),
    ).toEqual(['http://192.168.1.20:8787', 'http://10.0.0.7:8787']);
  });
});

describe('PoolHost', () => {
  it('runs a coordinator colleagues can join and submit to, with tokens that survive a restart', async () => {
    const first = host();
    const pool = await first.start();
    expect(pool.info.urls).toEqual([pool.localUrl]);

    const joined = await new ApiClient({ baseUrl: pool.info.urls[0]!, token: pool.info.joinToken }).registerWorker({
      name: 'colleague-pc',
      os: 'linux',
    });
    expect(joined.worker.name).toBe('colleague-pc');
    const job = await new ApiClient({ baseUrl: pool.localUrl, token: pool.info.submitToken }).submitJob({ commands: ['echo hi'] });
    expect(job.state).toBe('queued');
    const admin = new ApiClient({ baseUrl: pool.localUrl, token: pool.adminToken });
    expect((await admin.listWorkers()).map((w) => w.name)).toContain('colleague-pc');

    await first.stop();
    const again = await host().start();
    expect(again.info.joinToken).toBe(pool.info.joinToken);
    expect(again.info.submitToken).toBe(pool.info.submitToken);
    expect(again.adminToken).toBe(pool.adminToken);
    expect((await new ApiClient({ baseUrl: again.localUrl, token: again.adminToken }).getJob(job.id)).id).toBe(job.id);
  });

  it('mints a new colleagues token when the kept one no longer works', async () => {
    await fs.writeFile(`${dataDir}/colleagues.token`, 'cmdx_submit_from-an-old-store\n');
    const pool = await host().start();
    expect(pool.info.submitToken).not.toBe('cmdx_submit_from-an-old-store');
    await new ApiClient({ baseUrl: pool.localUrl, token: pool.info.submitToken }).listJobs();
    expect((await fs.readFile(`${dataDir}/colleagues.token`, 'utf8')).trim()).toBe(pool.info.submitToken);
  });

  it('says plainly when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(host(port).start()).rejects.toThrow(`port ${port} is already in use on this PC: choose another port in Settings`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
