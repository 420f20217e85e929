// The bench's output: one row per figure, each beside the limit or baseline it is judged against, as a
// markdown table (for the terminal and the README) and as JSON (bench/results/latest.json).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname } from 'node:path';

export interface Reference {
  /** What the figure is compared with: a baseline measured in the same run, or a fixed limit. */
  label: string;
  value: number;
  unit: string;
}

export interface Figure {
  case: string;
  figure: string;
  value: number;
  unit: string;
  reference: Reference;
  /** value / reference.value */
  ratio: number;
  target: string;
  /** null for a figure reported for information, with no target of its own. */
  met: boolean | null;
}

export function figure(
  row: Omit<Figure, 'ratio' | 'met'>,
  meets: ((value: number, reference: number) => boolean) | null,
): Figure {
  return { ...row, ratio: row.value / row.reference.value, met: meets ? meets(row.value, row.reference.value) : null };
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: other work on the machine makes the figures noisy. */
  loadAverageAtStart: number;
}

export function describeMachine(): Machine {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `n/a ${unit}`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
}

export function markdownTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.case,
    f.figure,
    formatValue(f.value, f.unit),
    `${f.reference.label}: ${formatValue(f.reference.value, f.reference.unit)}`,
    Number.isFinite(f.ratio) ? `${f.ratio.toFixed(2)}×` : 'n/a',
    f.target,
    f.met === null ? '–' : f.met ? 'yes' : '**no**',
  ]);
  const header = ['case', 'figure', 'measured', 'beside (same run)', 'ratio', 'target', 'met'];
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machineLine(machine: Machine): string {
  return `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM, ${machine.os}, Node ${machine.node}, load average ${machine.loadAverageAtStart} at start`;
}

export interface BenchReport {
  command: string;
  quick: boolean;
  startedAt: string;
  durationSec: number;
  machine: Machine;
  figures: Figure[];
  /** Per-case raw numbers behind the figures (percentiles, counts, timings). */
  details: Record<string, unknown>;
  /** Cases that could not run, with why. */
  failures: { case: string; error: string }[];
}

export async function writeReport(file: string, report: BenchReport): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}
