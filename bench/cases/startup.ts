// Case 7: how fast the command lines start. `--help` of each (start → exit) and `npm start` (start → "serving"),
// from the compiled bundle (dist/node/, what users run) beside the same TypeScript run through tsx (how they
// started before the bundle), alternating run by run; `node -e 0` is the floor on this machine.
import { spawn, spawnSync } from 'node:child_process';
import { compileNode, ENTRY_POINTS, isFresh } from '../../build/compile-node.js';
import type { BenchCase, CaseContext, CaseResult } from '../lib/case';
import { REPO_ROOT } from '../lib/processes';
import { figure, type Figure } from '../lib/report';
import { summarize } from '../lib/stats';

const HELP_LIMIT_MS = 300;
const SERVING_LIMIT_MS = 1500;

const COMMAND_LINES = {
  coordinator: { label: 'node coordinator --help', compiled: ['coordinator'] },
  worker: { label: 'npm run worker -- --help (node bin/worker.js)', compiled: ['bin/worker.js'] },
  submit: { label: 'npm run submit -- --help (node bin/submit.js)', compiled: ['bin/submit.js'] },
} satisfies Record<keyof typeof ENTRY_POINTS, { label: string; compiled: string[] }>;

const throughTsx = (name: keyof typeof ENTRY_POINTS) => ['--import', 'tsx', ENTRY_POINTS[name]];

/** Start → exit of `node ...args`, in ms. */
function timeToExit(args: string[]): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr.slice(-500)}`);
  return ms;
}

/** Start → the coordinator's "serving" line, in ms; then kills the whole process group (npm, sh, node). */
async function timeToServing(command: string, args: string[], dataDir: string): Promise<number> {
  const started = performance.now();
  const child = spawn(command, [...args, '--port', '0', '--data-dir', dataDir], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${command} ${args.join(' ')} did not serve within 60 s:\n${out.slice(-1000)}`)), 60_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (/serving http/.test(out)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited ${code} before serving:\n${out.slice(-1000)}`)));
    });
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // ESRCH: every process of the group has exited already.
    }
  }
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  if (!(await isFresh())) await compileNode();
  const rounds = ctx.quick ? 5 : 15;
  const floor: number[] = [];
  const help = Object.fromEntries(Object.keys(COMMAND_LINES).map((name) => [name, { compiled: [] as number[], tsx: [] as number[] }]));
  for (let i = 0; i < rounds; i++) {
    floor.push(timeToExit(['-e', '0']));
    for (const [name, commandLine] of Object.entries(COMMAND_LINES)) {
      help[name]!.compiled.push(timeToExit([...commandLine.compiled, '--help']));
      help[name]!.tsx.push(timeToExit([...throughTsx(name as keyof typeof ENTRY_POINTS), '--help']));
    }
  }

  const serveRounds = ctx.quick ? 3 : 7;
  const serving = { npmStart: [] as number[], compiled: [] as number[], tsx: [] as number[] };
  for (let i = 0; i < serveRounds; i++) {
    serving.npmStart.push(await timeToServing('npm', ['start', '--'], await ctx.tempDir('startup')));
    serving.compiled.push(await timeToServing(process.execPath, ['coordinator', '--with-worker'], await ctx.tempDir('startup')));
    serving.tsx.push(await timeToServing(process.execPath, [...throughTsx('coordinator'), '--with-worker'], await ctx.tempDir('startup')));
  }

  const floorSummary = summarize(floor);
  ctx.log(`node -e 0: p50 ${floorSummary.p50.toFixed(0)} ms (the floor)`);
  // The floor in the table too: on a busy machine it alone can pass the --help limit.
  const figures: Figure[] = [
    figure(
      {
        case: '7. start-up',
        figure: '`node -e 0`, start → exit, p50 (the floor of every command line)',
        value: floorSummary.p50,
        unit: 'ms',
        reference: { label: 'limit of a --help', value: HELP_LIMIT_MS, unit: 'ms' },
        target: '–',
      },
      null,
    ),
  ];
  const details: Record<string, unknown> = { rounds, floorMs: floorSummary };
  for (const [name, commandLine] of Object.entries(COMMAND_LINES)) {
    const compiled = summarize(help[name]!.compiled);
    const tsx = summarize(help[name]!.tsx);
    ctx.log(`${commandLine.label}: p50 ${compiled.p50.toFixed(0)} ms compiled, ${tsx.p50.toFixed(0)} ms through tsx`);
    details[name] = { compiledMs: compiled, tsxMs: tsx };
    figures.push(
      figure(
        {
          case: '7. start-up',
          figure: `${commandLine.label}, start → exit, p50`,
          value: compiled.p50,
          unit: 'ms',
          reference: { label: 'the same TypeScript through tsx, p50', value: tsx.p50, unit: 'ms' },
          target: `< ${HELP_LIMIT_MS} ms`,
        },
        (v) => v < HELP_LIMIT_MS,
      ),
    );
  }
  const npmStart = summarize(serving.npmStart);
  const compiledServing = summarize(serving.compiled);
  const tsxServing = summarize(serving.tsx);
  ctx.log(`→ serving, p50: npm start ${npmStart.p50.toFixed(0)} ms, node coordinator --with-worker ${compiledServing.p50.toFixed(0)} ms, through tsx ${tsxServing.p50.toFixed(0)} ms`);
  details.servingMs = { npmStart, compiled: compiledServing, tsx: tsxServing };
  const withWorker = `(coordinator + local worker, new data dir) → serving, p50 (${serveRounds} runs)`;
  figures.push(
    figure(
      {
        case: '7. start-up',
        figure: `node coordinator --with-worker ${withWorker}`,
        value: compiledServing.p50,
        unit: 'ms',
        reference: { label: 'the same TypeScript through tsx, p50', value: tsxServing.p50, unit: 'ms' },
        target: '–',
      },
      null,
    ),
    figure(
      {
        case: '7. start-up',
        figure: `\`npm start\` ${withWorker}`,
        value: npmStart.p50,
        unit: 'ms',
        reference: { label: 'node coordinator --with-worker without npm, p50', value: compiledServing.p50, unit: 'ms' },
        target: `< ${SERVING_LIMIT_MS} ms`,
      },
      (v) => v < SERVING_LIMIT_MS,
    ),
  );
  return { figures, details };
}

export const startupCase: BenchCase = { id: '7', title: 'start-up of the command lines (compiled beside tsx)', run };
