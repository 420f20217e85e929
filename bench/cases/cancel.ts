// Case 9: cancelling a running job, one at a time on an idle pool (1 real agent): the cancel call → every
// process of the job gone (read from /proc), and → `cancelled` seen by an event subscriber (what the UI and the
// CLI show). The stop reaches the agent over its control stream; before it, it waited for the next heartbeat
// (10 s). Beside it, the floor: SIGTERM to a raw `sleep` → its exit, on this machine.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { isTerminal } from '../../protocol/api';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { startPool } from '../lib/pool';
import { figure } from '../lib/report';
import { summarize } from '../lib/stats';

const GONE_LIMIT_MS = 200;
const SHOWN_LIMIT_MS = 1000;

/** SIGTERM to a running `sleep` → its exit event, ms. */
async function rawKill(): Promise<number> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const started = performance.now();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return performance.now() - started;
}

/** Processes (not zombies) whose environment marks them as the job's: the agent sets CMDX_JOB_ID for each. */
async function processesOf(jobId: string): Promise<number[]> {
  const marker = `CMDX_JOB_ID=${jobId}\0`;
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if ((await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '')).includes(marker) && (await alive(Number(name)))) found.push(Number(name));
  }
  return found;
}

async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return stat !== '' && state !== 'Z' && state !== 'X';
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  const count = ctx.quick ? 20 : 100;
  const floor: number[] = [];
  for (let i = 0; i < count; i++) floor.push(await rawKill());

  const pool = await startPool(ctx, 'cancel', { agents: 1, slots: 1 });
  const goneMs: number[] = [];
  const shownMs: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      // The sleep starts before the line is printed: once the line is seen, the shell and the sleep both run.
      const job = await pool.client.submitJob({ commands: ['sleep 600 & echo started; wait'], name: `cancel ${i}` });
      const events = pool.client.events(job.id);
      const next = async () => {
        const { value, done } = await events.next();
        if (done) throw new Error(`the event stream of job ${job.id} ended before its final state`);
        return value;
      };
      while ((await next()).type !== 'output');
      const pids = await processesOf(job.id);
      if (pids.length === 0) throw new Error(`no process of job ${job.id} found in /proc`);
      const started = performance.now();
      const cancelled = pool.client.cancelJob(job.id);
      const shown = (async () => {
        for (;;) {
          const event = await next();
          if (event.type === 'state' && isTerminal(event.data.state)) {
            if (event.data.state !== 'cancelled') throw new Error(`job ${job.id} ended ${event.data.state}, not cancelled`);
            return performance.now() - started;
          }
        }
      })();
      for (;;) {
        const living = await Promise.all(pids.map(alive));
        if (!living.includes(true)) break;
        if (performance.now() - started > 60_000) throw new Error(`job ${job.id} still had processes 60 s after its cancel`);
        // A short sleep, not a busy loop: on 2 cores the bench must not take the CPU the agent needs to kill.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      goneMs.push(performance.now() - started);
      await cancelled;
      shownMs.push(await shown);
    }
  } finally {
    await pool.stop();
  }
  const rawFloor = summarize(floor);
  const gone = summarize(goneMs);
  const shown = summarize(shownMs);
  ctx.log(`SIGTERM → exit of a raw sleep: p50 ${rawFloor.p50.toFixed(2)} ms`);
  ctx.log(`cancel → job processes gone p50/p95/p99 ${gone.p50.toFixed(1)}/${gone.p95.toFixed(1)}/${gone.p99.toFixed(1)} ms`);
  ctx.log(`cancel → "cancelled" at an SSE subscriber p50/p95/p99 ${shown.p50.toFixed(1)}/${shown.p95.toFixed(1)}/${shown.p99.toFixed(1)} ms`);
  const floorRef = { label: 'SIGTERM → exit of a raw `sleep`, p50', value: rawFloor.p50, unit: 'ms' };
  return {
    figures: [
      figure(
        { case: '9. cancel', figure: `cancel → job processes gone, p50 (${count} jobs one at a time)`, value: gone.p50, unit: 'ms', reference: floorRef, target: '–' },
        null,
      ),
      figure(
        { case: '9. cancel', figure: 'cancel → job processes gone, p99', value: gone.p99, unit: 'ms', reference: floorRef, target: `< ${GONE_LIMIT_MS} ms` },
        (v) => v < GONE_LIMIT_MS,
      ),
      figure(
        { case: '9. cancel', figure: 'cancel → `cancelled` at an SSE subscriber (the UI, the CLI), p99', value: shown.p99, unit: 'ms', reference: floorRef, target: `< ${SHOWN_LIMIT_MS} ms` },
        (v) => v < SHOWN_LIMIT_MS,
      ),
    ],
    details: { jobs: count, rawKillMs: rawFloor, goneMs: gone, shownMs: shown },
  };
}

export const cancelCase: BenchCase = { id: '9', title: 'cancel → job processes gone', run };
