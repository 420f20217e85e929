// Case 4: a job printing 100 MiB to stdout, from the child process through the agent and the coordinator to an
// SSE subscriber, beside the same bytes piped through `cat` on this machine.
import { isTerminal } from '../../protocol/api';
import { runShell } from '../lib/baselines';
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
    const started = performance.now();
    const job = await pool.client.submitJob({ commands: [generator], name: 'streaming' });
    let stdoutBytes = 0;
    let stderr = '';
    let firstOutputAt = 0;
    for await (const event of pool.client.events(job.id)) {
      if (event.type === 'output') {
        firstOutputAt ||= performance.now();
        if (event.data.stream === 'stdout') stdoutBytes += Buffer.byteLength(event.data.text);
        else stderr += event.data.text;
      }
      if (event.type === 'state' && isTerminal(event.data.state) && event.data.state !== 'succeeded') {
        throw new Error(`the job ended ${event.data.state}: ${event.data.error ?? ''}`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const droppedOnWorker = [...stderr.matchAll(/(\d+) bytes of output dropped on the worker/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    measured = {
      stdoutBytes,
      seconds,
      firstOutputMs: firstOutputAt - started,
      mibPerSec: stdoutBytes / MiB / seconds,
      droppedOnWorkerBytes: droppedOnWorker,
      complete: stdoutBytes === size,
    };
  } finally {
    await pool.stop();
  }
  ctx.log(
    `the subscriber got ${(measured.stdoutBytes / MiB).toFixed(1)} of ${size / MiB} MiB in ${measured.seconds.toFixed(2)} s: ${measured.mibPerSec.toFixed(1)} MiB/s` +
      (measured.complete ? '' : ` (the rest was dropped: ${measured.droppedOnWorkerBytes} bytes on the worker)`),
  );
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
    ],
    details: { bytes: size, generator, pipeMiBs, ...measured },
  };
}

export const streamingCase: BenchCase = { id: '4', title: 'output streaming (100 MiB to an SSE subscriber)', run };
