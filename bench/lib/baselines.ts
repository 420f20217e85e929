// What this machine does without cmd-executor in the way: the physical limits the figures are set against.
import { spawn } from 'node:child_process';
import { summarize, type Summary } from './stats';

/** Runs `sh -c script` and resolves when it exited, with its stdout byte count. */
export function runShell(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`sh -c ${script} exited ${code}`))));
  });
}

/** How many `sh -c true` per second this machine spawns with `parallelism` in flight. */
export async function spawnRate(count: number, parallelism: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallelism }, async () => {
      while (next++ < count) await runShell('true');
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Spawn → exit of one `sh -c script` at a time, in ms. */
export async function spawnLatency(script: string, count: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await runShell(script);
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}
