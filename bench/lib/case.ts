// What every bench case gets and gives back.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { Figure } from './report';

export interface CaseContext {
  quick: boolean;
  /** Where the coordinator writes its CPU profile (node --cpu-prof), or null for no profiling. */
  cpuProfDir: string | null;
  log(message: string): void;
  /** A temp dir under os.tmpdir(), removed when the bench ends. */
  tempDir(prefix: string): Promise<string>;
}

export interface CaseResult {
  figures: Figure[];
  details: Record<string, unknown>;
}

export interface BenchCase {
  id: string;
  title: string;
  run(ctx: CaseContext): Promise<CaseResult>;
}

/** node flags for a pool process (`name`): a CPU profile when --cpu-prof was asked for. */
export function profileArgs(ctx: CaseContext, name: string): string[] {
  return ctx.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
}

export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(os.tmpdir(), `cmdx-bench-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

export const MiB = 1024 * 1024;
