// Case 6: what the job sandbox costs per job. The agent's own runner runs a one-command job (`true`) in a fresh
// job folder, in turn without a sandbox and in the one this machine offers (bubblewrap on Linux), so both
// see the same load; the figure is the p50 added per job.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_JOB_LIMITS } from '../../protocol/limits';
import { JobRunner } from '../../main/agent/runner';
import { chooseSandbox, noSandbox, type Sandbox } from '../../main/agent/sandbox';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { figure } from '../lib/report';
import { summarize } from '../lib/stats';

const silent = { commandStarted: () => {}, output: () => {}, commandEnded: () => {} };

/** One `true` job, from the runner's start to its result, in ms. */
async function timeJob(sandbox: Sandbox, jobDir: string, index: number): Promise<number> {
  const folders = { workspace: path.join(jobDir, 'workspace'), home: path.join(jobDir, 'home'), tmp: path.join(jobDir, 'tmp') };
  for (const dir of Object.values(folders)) await mkdir(dir, { recursive: true });
  const started = performance.now();
  const result = await new JobRunner(
    { id: `bench_${index}`, attempt: 1, commands: ['true'], shell: null, env: {}, continueOnError: false },
    { folders, network: false, limits: DEFAULT_JOB_LIMITS },
    silent,
    { killGraceMs: 1000, sandbox },
  ).run();
  const elapsed = performance.now() - started;
  if (!result.succeeded) throw new Error(`a \`true\` job failed in sandbox ${sandbox.kind}`);
  await rm(jobDir, { recursive: true, force: true });
  return elapsed;
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  const count = ctx.quick ? 100 : 300;
  const dir = await ctx.tempDir('sandbox');
  const { sandbox, why } = await chooseSandbox(path.join(dir, 'state'));
  if (sandbox.kind === 'none') throw new Error(`no sandbox to measure here: ${why}`);
  const bare: number[] = [];
  const boxed: number[] = [];
  for (let i = 0; i < count; i++) {
    bare.push(await timeJob(noSandbox, path.join(dir, `bare-${i}`), i));
    boxed.push(await timeJob(sandbox, path.join(dir, `boxed-${i}`), i));
  }
  const without = summarize(bare);
  const within = summarize(boxed);
  const added = within.p50 - without.p50;
  ctx.log(`\`true\` job without a sandbox p50 ${without.p50.toFixed(2)} ms, in ${sandbox.kind} p50 ${within.p50.toFixed(2)} ms: +${added.toFixed(2)} ms`);
  return {
    figures: [
      figure(
        {
          case: '6. sandbox',
          figure: `${sandbox.kind} added per \`true\` job, p50 (${count} jobs each way)`,
          value: added,
          unit: 'ms',
          reference: { label: 'the same job without a sandbox, p50', value: without.p50, unit: 'ms' },
          target: '≤ 5 ms',
        },
        (v) => v <= 5,
      ),
    ],
    details: { jobs: count, sandbox: sandbox.kind, withoutMs: without, withinMs: within },
  };
}

export const sandboxCase: BenchCase = { id: '6', title: 'the job sandbox’s cost per job', run };
