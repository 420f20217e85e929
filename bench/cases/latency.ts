// Case 2: latency on an idle pool, one job at a time: submit → result recorded (the terminal `state` event
// reaching an SSE subscriber) and submit → first output line seen by that subscriber, beside one raw spawn of
// the same command. Also the claim latency alone: submit → job handed to a worker waiting in a long poll.
import { API_PREFIX, type ClaimResponse, type RegisterWorkerResponse } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { spawnLatency } from '../lib/baselines';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { submitAndFollow } from '../lib/jobs';
import { startPool } from '../lib/pool';
import { figure } from '../lib/report';
import { summarize } from '../lib/stats';

const COMMAND = 'echo hi';
/** A label no real agent carries: jobs with it wait for the simulated worker of the claim probe. */
const PROBE_LABEL = 'bench-claim-probe';

async function run(ctx: CaseContext): Promise<CaseResult> {
  const count = ctx.quick ? 100 : 300;
  const rawSpawn = await spawnLatency(COMMAND, count);
  ctx.log(`raw spawn of sh -c '${COMMAND}': p50 ${rawSpawn.p50.toFixed(2)} ms`);

  const pool = await startPool(ctx, 'latency', { agents: 2, slots: 2 });
  const resultMs: number[] = [];
  const firstOutputMs: number[] = [];
  const claimMs: number[] = [];
  const healthMs: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const followed = await submitAndFollow(pool.client, COMMAND, `latency ${i}`);
      if (followed.firstOutputMs === null) throw new Error(`job "latency ${i}" printed nothing`);
      resultMs.push(followed.resultMs);
      firstOutputMs.push(followed.firstOutputMs);
    }

    // The claim alone, at the protocol level: a worker of our own waits in a long poll for jobs no agent takes.
    const joiner = new ApiClient({ baseUrl: pool.coordinator.url, token: pool.coordinator.joinToken });
    const registered: RegisterWorkerResponse = await joiner.registerWorker({ name: 'claim-probe', os: 'linux', labels: [PROBE_LABEL] });
    const worker = new ApiClient({ baseUrl: pool.coordinator.url, token: registered.token });
    const id = registered.worker.id;
    const waiting = async () => Number(/^cmdx_waiting_claims(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${pool.coordinator.url}/metrics`)).text())?.[1]);
    for (let i = 0; i < count; i++) {
      const claiming = worker.claim(id, 10_000);
      // Both agents and this worker sit in long polls before the job goes in: the pool is idle.
      while ((await waiting()) < 3) await new Promise((resolve) => setTimeout(resolve, 1));
      const started = performance.now();
      await pool.client.submitJob({ commands: ['true'], labels: [PROBE_LABEL] });
      const claim: ClaimResponse | null = await claiming;
      claimMs.push(performance.now() - started);
      if (!claim) throw new Error('the probe worker got no job');
      await worker.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
      const pinged = performance.now();
      await fetch(`${pool.coordinator.url}/healthz`).then((r) => r.arrayBuffer());
      healthMs.push(performance.now() - pinged);
    }
    await worker.request(`${API_PREFIX}/workers/${id}`, { method: 'DELETE' });
  } finally {
    await pool.stop();
  }
  const result = summarize(resultMs);
  const firstOutput = summarize(firstOutputMs);
  const claim = summarize(claimMs);
  const health = summarize(healthMs);
  ctx.log(`submit → result p50/p95/p99 ${result.p50.toFixed(1)}/${result.p95.toFixed(1)}/${result.p99.toFixed(1)} ms`);
  ctx.log(`submit → first output p50/p95/p99 ${firstOutput.p50.toFixed(1)}/${firstOutput.p95.toFixed(1)}/${firstOutput.p99.toFixed(1)} ms`);
  ctx.log(`submit → claim p50/p95/p99 ${claim.p50.toFixed(2)}/${claim.p95.toFixed(2)}/${claim.p99.toFixed(2)} ms (GET /healthz p50 ${health.p50.toFixed(2)} ms)`);
  const spawnRef = { label: `one raw spawn of \`sh -c '${COMMAND}'\`, p50`, value: rawSpawn.p50, unit: 'ms' };
  return {
    figures: [
      figure(
        { case: '2. idle latency', figure: `submit → result recorded, p50 (\`${COMMAND}\`, ${count} jobs one at a time)`, value: result.p50, unit: 'ms', reference: spawnRef, target: '≤ raw spawn + 5 ms' },
        (v, ref) => v <= ref + 5,
      ),
      figure(
        { case: '2. idle latency', figure: 'submit → result recorded, p99', value: result.p99, unit: 'ms', reference: spawnRef, target: '–' },
        null,
      ),
      figure(
        { case: '2. idle latency', figure: 'submit → first output line at an SSE subscriber, p50', value: firstOutput.p50, unit: 'ms', reference: spawnRef, target: '–' },
        null,
      ),
      figure(
        {
          case: '2. idle latency',
          figure: 'submit → claim answered to a waiting long poll, p99',
          value: claim.p99,
          unit: 'ms',
          reference: { label: 'one GET /healthz round trip, p50', value: health.p50, unit: 'ms' },
          target: '< 10 ms ("within milliseconds")',
        },
        (v) => v < 10,
      ),
    ],
    details: { jobs: count, rawSpawnMs: rawSpawn, resultMs: result, firstOutputMs: firstOutput, claimMs: claim, healthzMs: health },
  };
}

export const latencyCase: BenchCase = { id: '2', title: 'latency on an idle pool', run };
