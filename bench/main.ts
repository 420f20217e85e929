// `npm run bench [-- --quick] [-- --cases 1,3]`: measures the pool on this machine and prints each figure beside
// a baseline or limit measured in the same run. Not a CI gate: wall-clock figures depend on the machine.
import { relative, resolve } from 'node:path';
import { helpText, parseCommandLine, UsageError, type FlagTable } from '../protocol/cli';
import { bullmqCase } from './cases/bullmq';
import { cancelCase } from './cases/cancel';
import { capacityCase } from './cases/capacity';
import { latencyCase } from './cases/latency';
import { sandboxCase } from './cases/sandbox';
import { startupCase } from './cases/startup';
import { streamingCase } from './cases/streaming';
import { throughputCase } from './cases/throughput';
import { transferCase } from './cases/transfer';
import { TempDirs, type BenchCase, type CaseContext } from './lib/case';
import { REPO_ROOT } from './lib/processes';
import { describeMachine, machineLine, markdownTable, writeReport, type BenchReport } from './lib/report';

const CASES: BenchCase[] = [throughputCase, latencyCase, capacityCase, streamingCase, transferCase, sandboxCase, startupCase, bullmqCase, cancelCase];

const flags = {
  quick: { type: 'boolean', env: 'CMDX_BENCH_QUICK', description: 'a smaller, faster run (fewer jobs and workers, smaller files)' },
  cases: { type: 'list', env: 'CMDX_BENCH_CASES', description: `cases to run (${CASES.map((c) => c.id).join(',')}); default all`, placeholder: 'N,N' },
  out: { type: 'string', env: 'CMDX_BENCH_OUT', description: 'where the JSON report goes', default: 'bench/results/latest.json', placeholder: 'FILE' },
  'cpu-prof': { type: 'string', env: 'CMDX_BENCH_CPU_PROF', description: 'write a CPU profile of each coordinator process to DIR', placeholder: 'DIR' },
} satisfies FlagTable;

async function main(argv: string[]): Promise<number> {
  const { flags: options, positionals, help } = parseCommandLine(flags, argv, process.env);
  if (help) {
    console.log(helpText('npm run bench -- [options]', flags));
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  const wanted = options.cases ?? CASES.map((c) => c.id);
  const unknown = wanted.filter((id) => !CASES.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`unknown case ${unknown.join(', ')}; the cases are ${CASES.map((c) => `${c.id} (${c.title})`).join(', ')}`);

  const temp = new TempDirs();
  const ctx: CaseContext = {
    quick: options.quick ?? false,
    cpuProfDir: options['cpu-prof'] ? resolve(options['cpu-prof']) : null,
    log: (message) => console.log(`  ${message}`),
    tempDir: (prefix) => temp.make(prefix),
  };
  const report: BenchReport = {
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    quick: ctx.quick,
    startedAt: new Date().toISOString(),
    durationSec: 0,
    machine: describeMachine(),
    figures: [],
    details: {},
    failures: [],
  };
  console.log(`cmd-executor bench on ${machineLine(report.machine)}`);
  const started = performance.now();
  try {
    for (const benchCase of CASES.filter((c) => wanted.includes(c.id))) {
      console.log(`\ncase ${benchCase.id}: ${benchCase.title}`);
      const caseStart = performance.now();
      try {
        const result = await benchCase.run(ctx);
        report.figures.push(...result.figures);
        report.details[benchCase.id] = result.details;
      } catch (err) {
        const message = (err as Error).message;
        console.error(`  case ${benchCase.id} could not run: ${message}`);
        report.failures.push({ case: benchCase.id, error: message });
      }
      console.log(`  (${((performance.now() - caseStart) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await temp.removeAll();
  }
  report.durationSec = Math.round((performance.now() - started) / 100) / 10;
  const out = resolve(REPO_ROOT, options.out!);
  await writeReport(out, report);
  console.log(`\n${markdownTable(report.figures)}\n`);
  console.log(`Measured with \`${report.command}\` on ${machineLine(report.machine)}, in ${report.durationSec} s.`);
  console.log(`JSON: ${relative(process.cwd(), out)}`);
  return report.failures.length ? 1 : 0;
}

// Ends through process.exit so the children (coordinators, agents, load) are killed on the way out.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
