// /metrics of coordinators sharing one PostgreSQL database: each node's own series carry its `instance` label,
// and the pool's gauges (jobs, queue, workers, data) come from the sweeper alone, so that sum() over the nodes
// is the truth; when the sweeper dies, the next one exports them.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, testStore } from '../pool';
import { createDatabase } from '../postgres';
import { waitFor } from '../wait';
import { ProcessPool, type NodeProcess } from './processes';

const pools: ProcessPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a node's /metrics (asked from loopback: no token needed). */
async function scrape(node: NodeProcess): Promise<Sample[]> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, name, labels = '', value] = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      return { name: name!, labels: Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])), value: Number(value) };
    });
}

const POOL_GAUGES = ['cmdx_jobs', 'cmdx_queue_depth', 'cmdx_workers', 'cmdx_data_bytes'];
const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

describe.runIf(testStore === 'postgres')('metrics of coordinators sharing one database', () => {
  it("label each node's series with its instance, export the pool's gauges from the sweeper alone, and move them on when it dies", async () => {
    const pool = await ProcessPool.create(await createDatabase(inject('postgresUrl')));
    pools.push(pool);
    const leader = await pool.start('leader');
    await pool.sweeperElected();
    const other = await pool.start('other', { args: ['--name', 'node-b'] });
    const admin = new ApiClient({ baseUrl: leader.url, token: pool.adminToken });
    const worker = await registerTestWorker(other.url, pool.joinToken, { name: 'metrics' });
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await admin.submitJob({ commands: ['true'] }));
    expect((await worker.client.claim(worker.id, 0))?.job.id).toBe(jobs[0]!.id);

    const truth = async () => {
      const rows = await pool.query('SELECT state, count(*)::int AS n FROM jobs GROUP BY state');
      return Object.fromEntries(rows.map((r) => [r.state as string, r.n as number]));
    };
    expect(await truth()).toEqual({ leased: 1, queued: 2 });
    const both = [await scrape(leader), await scrape(other)];

    // Every series of a node says which: its --name, else its host:port.
    expect(new Set(both[0]!.map((s) => s.labels.instance))).toEqual(new Set([new URL(leader.url).host]));
    expect(new Set(both[1]!.map((s) => s.labels.instance))).toEqual(new Set(['node-b']));
    // The pool's gauges come from the sweeper only; its own series from each.
    for (const name of POOL_GAUGES) {
      expect(both[0]!.some((s) => s.name === name), name).toBe(true);
      expect(both[1]!.some((s) => s.name === name), name).toBe(false);
    }
    for (const samples of both) {
      for (const name of ['cmdx_http_request_duration_seconds_count', 'cmdx_waiting_claims', 'cmdx_lease_expiries_total', 'cmdx_process_process_resident_memory_bytes']) {
        expect(samples.some((s) => s.name === name), name).toBe(true);
      }
    }
    // Summed over the nodes: the truth, counted once.
    const all = both.flat();
    expect(sum(all, 'cmdx_jobs', { state: 'queued' })).toBe(2);
    expect(sum(all, 'cmdx_jobs', { state: 'leased' })).toBe(1);
    expect(sum(all, 'cmdx_queue_depth')).toBe(2);
    expect(sum(all, 'cmdx_workers')).toBe(1);
    // A claim is counted where it was answered.
    expect(sum(both[0]!, 'cmdx_claim_latency_seconds_count')).toBe(0);
    expect(sum(both[1]!, 'cmdx_claim_latency_seconds_count')).toBe(1);

    // kill -9 the sweeper: the other node takes the role at its next sweep (every second), and the gauges with it.
    await pool.kill(leader);
    const killedAt = Date.now();
    const after = await waitFor(async () => {
      const samples = await scrape(other);
      return samples.some((s) => s.name === 'cmdx_jobs') ? samples : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50, message: "the surviving node to export the pool's gauges" });
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(5000);
    expect(sum(after, 'cmdx_jobs', { state: 'queued' })).toBe(2);
    expect(sum(after, 'cmdx_jobs', { state: 'leased' })).toBe(1);
    expect(sum(after, 'cmdx_queue_depth')).toBe(2);
    expect(sum(after, 'cmdx_workers')).toBe(1);
    expect(new Set(after.map((s) => s.labels.instance))).toEqual(new Set(['node-b']));
  }, 90_000);
});
