// A real agent on a real coordinator sends a chatty job's output as raw-byte uploads: the log ends byte-equal to
// what the job printed, a live subscriber sees all of it, and uploads cut mid-body by the network resume from the
// committed position.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { AgentFleet, waitForJob } from './test-support';
import { seriesValue } from '../../test/metrics';

const LINES = 3_500_000;
/** `seq 1 N`: ~26 MiB of distinct lines, so a byte out of place or twice shows. */
const printed = (() => {
  const parts: string[] = [];
  for (let i = 1; i <= LINES; i++) parts.push(`${i}\n`);
  return Buffer.from(parts.join(''));
})();
const TAIL = 'é€ done\n';
const job = { commands: [`seq 1 ${LINES}`, `printf '${TAIL.trimEnd()}\\n' >&2`] };

async function logBytes(client: ApiClient, jobId: string): Promise<Buffer> {
  return Buffer.from(await (await client.request(`/api/v1/jobs/${jobId}/log`)).arrayBuffer());
}

/** How many requests the coordinator answered on a route with a status (its /metrics). */
async function requestsOn(client: ApiClient, method: string, route: string, status: number): Promise<number> {
  const text = await (await client.request('/metrics')).text();
  return seriesValue(text, 'cmdx_http_request_duration_seconds_count', { method, route, status: String(status) }) ?? 0;
}

/**
 * An HTTP proxy in front of the coordinator that cuts the first `cuts` raw uploads once `afterBytes` of their
 * body went through: the agent sees a dropped connection mid-body, as when a coordinator dies. With `dies`, the
 * proxy stops listening at its last cut, as a node killed -9 does.
 */
async function cuttingProxy(
  target: string,
  { cuts, afterBytes, dies = false }: { cuts: number; afterBytes: number; dies?: boolean },
): Promise<{ url: string; cut: () => number; close: () => Promise<void> }> {
  let done = 0;
  const server = http.createServer((req, res) => {
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    let seen = 0;
    const cutting = req.url!.includes('/output/bytes') && done < cuts;
    req.on('data', (data: Buffer) => {
      seen += data.length;
      if (cutting && seen > afterBytes && !upstream.destroyed) {
        done += 1;
        upstream.write(data.subarray(0, data.length - (seen - afterBytes)));
        upstream.destroy();
        req.socket.destroy();
        if (dies && done === cuts) {
          server.close();
          server.closeAllConnections();
        }
        return;
      }
      upstream.write(data);
    });
    req.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: () => done,
    close: async () => {
      server.closeAllConnections();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('output as raw-byte uploads from a real agent', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;
  const fleet = new AgentFleet();

  beforeEach(async () => {
    // The cap (16 MiB by default) above the job's output: every byte is kept.
    pool = await startTestCoordinator({ maxOutputBytes: 64 * 1024 * 1024 });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('a job printing ~26 MiB ends with /log byte-equal to what it printed, and a live subscriber sees every byte', async () => {
    await fleet.start({ server: pool.url, joinToken: pool.joinToken });
    const submitted = await submitter.submitJob(job);
    const live: string[] = [];
    for await (const event of submitter.events(submitted.id)) {
      if (event.type === 'output' && event.data.stream === 'stdout') live.push(event.data.text);
    }
    expect((await waitForJob(submitter, submitted.id)).state).toBe('succeeded');
    expect((await logBytes(submitter, submitted.id)).equals(Buffer.concat([printed, Buffer.from(TAIL)]))).toBe(true);
    expect(Buffer.from(live.join('')).equals(printed)).toBe(true);
    // The bulk went as raw bytes; JSON carried the rest (the records, the small stderr run).
    expect(await requestsOn(submitter, 'POST', '/api/v1/leases/:leaseId/output/bytes', 200)).toBeGreaterThan(0);
  }, 60_000);

  /** Runs the job on an agent given `server` behind `proxy`; it succeeds with its log whole, after `cuts` cut uploads. */
  async function runThrough(proxy: Awaited<ReturnType<typeof cuttingProxy>>, server: string, cuts: number): Promise<void> {
    try {
      await fleet.start({ server, joinToken: pool.joinToken });
      const submitted = await submitter.submitJob(job);
      expect((await waitForJob(submitter, submitted.id, undefined, 60_000)).state).toBe('succeeded');
      expect(proxy.cut()).toBe(cuts);
      expect((await logBytes(submitter, submitted.id)).equals(Buffer.concat([printed, Buffer.from(TAIL)]))).toBe(true);
      // Each cut upload was followed by a question for the committed position.
      expect(await requestsOn(submitter, 'GET', '/api/v1/leases/:leaseId/output', 200)).toBeGreaterThanOrEqual(cuts);
    } finally {
      await proxy.close();
    }
  }

  it('uploads cut mid-body by the network resume from the committed position: the log is whole and in order', async () => {
    const proxy = await cuttingProxy(pool.url, { cuts: 3, afterBytes: 300 * 1024 });
    await runThrough(proxy, proxy.url, 3);
  }, 90_000);

  it('an upload cut by the death of the node it went to resumes on the next node in --server from the committed position', async () => {
    const dying = await cuttingProxy(pool.url, { cuts: 1, afterBytes: 300 * 1024, dies: true });
    await runThrough(dying, `${dying.url},${pool.url}`, 1);
  }, 90_000);
});
