// Case 4: a job printing 100 MiB to stdout, from the child process through the agent and the coordinator to an
// SSE subscriber, beside the same bytes piped through `cat` on this machine.
import { isTerminal } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';
import { runShell } from '../lib/baselines';
import { cpuSeconds } from '../lib/processes';
import { MiB, type BenchCase, type CaseContext, type CaseResult } from '../lib/case';
import { startPool } from '../lib/pool';
import { figure } from '../lib/report';

const LINE = 'cmd-executor streaming bench: one line of build-log-like text, about eighty bytes long';

async function run(ctx: CaseContext): Promise<CaseResult> {
  const size = (ctx.quick ? 20 : 100) * MiB;
  const generator = `yes '${LINE}' | head -c ${size}`;
  const pipeStart = performance.now();
  const piped = await runShell(`${generator} | cat`);
  const pipeMiBs = piped / MiB / ((performance.now() - pipeStart) / 1000);
  ctx.log(`${generator} | cat: ${pipeMiBs.toFixed(0)} MiB/s`);

  // The per-job output cap is raised above the job's output, so every byte is kept and streamed.
  const pool = await startPool(ctx, 'streaming', { agents: 1, slots: 1, coordinatorArgs: ['--max-output-bytes', String(2 * size)] });
  let measured;
  try {
    // CPU the pool's own processes spend on the bytes: on a busy machine wall time says more about the load.
    const poolCpuSeconds = () => [pool.coordinator.run.child.pid!, ...pool.agents.map((a) => a.child.pid!)].reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const cpuBefore = poolCpuSeconds();
    const started = performance.now();
    const job = await pool.client.submitJob({ commands: [generator], name: 'streaming' });
    let firstOutputAt = 0;
    const live = await follow(pool.client, job.id, () => (firstOutputAt ||= performance.now()));
    const { stdoutBytes, stderr } = live;
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerMiB = ((poolCpuSeconds() - cpuBefore) * 1000) / (size / MiB);
    // Where the time went: the job's own run (child → agent → coordinator, stored) and the subscriber's lag behind it.
    const view = await pool.client.getJob(job.id);
    const runMs = Date.parse(view.finishedAt!) - Date.parse(view.startedAt!);
    // The same stream again from offset 0, to a subscriber that joins after the job ended: read from the files.
    const replayStart = performance.now();
    const replay = await follow(pool.client, job.id, () => undefined);
    const replaySeconds = (performance.now() - replayStart) / 1000;
    const droppedOnWorker = [...stderr.matchAll(/(\d+) bytes of output dropped on the worker/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    measured = {
      stdoutBytes,
      seconds,
      firstOutputMs: firstOutputAt - started,
      mibPerSec: stdoutBytes / MiB / seconds,
      droppedOnWorkerBytes: droppedOnWorker,
      complete: stdoutBytes === size,
      runMs,
      cpuMsPerMiB,
      replayMibPerSec: replay.stdoutBytes / MiB / replaySeconds,
      replayComplete: replay.stdoutBytes === size,
    };
  } finally {
    await pool.stop();
  }
  ctx.log(
    `the subscriber got ${(measured.stdoutBytes / MiB).toFixed(1)} of ${size / MiB} MiB in ${measured.seconds.toFixed(2)} s: ${measured.mibPerSec.toFixed(1)} MiB/s` +
      (measured.complete ? '' : ` (the rest was dropped: ${measured.droppedOnWorkerBytes} bytes on the worker)`),
  );
  ctx.log(`the agent and the coordinator used ${measured.cpuMsPerMiB.toFixed(1)} ms of CPU per MiB (live run, with its subscriber)`);
  ctx.log(`the job ran ${(measured.runMs / 1000).toFixed(2)} s (child → agent → coordinator, stored); a replay from offset 0 after it ended: ${measured.replayMibPerSec.toFixed(1)} MiB/s`);
  return {
    figures: [
      figure(
        {
          case: '4. streaming',
          figure: `${size / MiB} MiB of stdout, child → agent → coordinator → SSE subscriber${measured.complete ? '' : ` (only ${(measured.stdoutBytes / MiB).toFixed(1)} MiB arrived)`}`,
          value: measured.mibPerSec,
          unit: 'MiB/s',
          reference: { label: 'the same bytes piped through `cat`', value: pipeMiBs, unit: 'MiB/s' },
          target: '≥ 0.5× baseline, every byte delivered',
        },
        (v, ref) => measured.complete && v >= 0.5 * ref,
      ),
      figure(
        {
          case: '4. streaming',
          figure: `the same ${size / MiB} MiB replayed from offset 0 after the job ended (coordinator files → SSE subscriber)${measured.replayComplete ? '' : ' (incomplete)'}`,
          value: measured.replayMibPerSec,
          unit: 'MiB/s',
          reference: { label: 'the same bytes piped through `cat`', value: pipeMiBs, unit: 'MiB/s' },
          target: '– (the subscriber half of the figure above)',
        },
        null,
      ),
    ],
    details: { bytes: size, generator, pipeMiBs, ...measured },
  };
}

/** Follows a job's stream to its end, counting stdout bytes (stderr kept: the agent's drop markers). */
async function follow(client: ApiClient, jobId: string, onOutput: () => void): Promise<{ stdoutBytes: number; stderr: string }> {
  let stdoutBytes = 0;
  let stderr = '';
  for await (const event of client.events(jobId)) {
    if (event.type === 'output') {
      onOutput();
      if (event.data.stream === 'stdout') stdoutBytes += Buffer.byteLength(event.data.text);
      else stderr += event.data.text;
    }
    if (event.type === 'state' && isTerminal(event.data.state) && event.data.state !== 'succeeded') {
      throw new Error(`the job ended ${event.data.state}: ${event.data.error ?? ''}`);
    }
  }
  return { stdoutBytes, stderr };
}

export const streamingCase: BenchCase = { id: '4', title: 'output streaming (100 MiB to an SSE subscriber)', run };
