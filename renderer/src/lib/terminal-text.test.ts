import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../../protocol/api';
import { freshCursor, terminalText, type TerminalCursor } from './terminal-text';

const state = (id: number, data: Partial<Extract<JobEvent, { type: 'state' }>['data']>): JobEvent => ({
  id,
  type: 'state',
  data: { state: 'queued', attempt: 0, reason: null, exitCode: null, workerId: null, workerName: null, error: null, ...data },
});
const output = (id: number, text: string, stream: 'stdout' | 'stderr' = 'stdout'): JobEvent => ({
  id,
  type: 'output',
  data: { attempt: 1, stream, text, offset: id },
});
const command = (id: number, data: Partial<Extract<JobEvent, { type: 'command' }>['data']>): JobEvent => ({
  id,
  type: 'command',
  data: { attempt: 1, index: 0, phase: 'start', command: 'make', exitCode: null, signal: null, durationMs: null, ...data },
});

/** Feeds events through like the store does and returns the whole text. */
function render(events: JobEvent[], cursor: TerminalCursor = freshCursor(2)): string {
  let text = '';
  for (const event of events) {
    const step = terminalText(event, cursor);
    text += step.text;
    cursor = step.cursor;
  }
  return text;
}

describe('terminalText', () => {
  it('passes program output through untouched, ANSI colours included', () => {
    expect(render([output(1, '\x1b[32mgreen\x1b[0m\n')])).toBe('\x1b[32mgreen\x1b[0m\n');
  });

  it('shows stderr in red', () => {
    expect(render([output(1, 'boom\n', 'stderr')])).toBe('\x1b[31mboom\n\x1b[0m');
  });

  it('heads each command with its position and ends it with exit code and duration', () => {
    const text = render([
      command(1, { index: 0, command: 'make' }),
      output(2, 'built\n'),
      command(3, { index: 0, phase: 'end', command: 'make', exitCode: 0, durationMs: 1500 }),
      command(4, { index: 1, command: './test' }),
      command(5, { index: 1, phase: 'end', command: './test', exitCode: 3, durationMs: 20 }),
    ]);
    expect(text).toContain('[1/2] $ make');
    expect(text).toContain('✔ exit 0');
    expect(text).toContain(' in 1.5 s');
    expect(text).toContain('[2/2] $ ./test');
    expect(text).toContain('✘ exit 3');
    expect(text).toContain(' in 20 ms');
  });

  it('names the signal that killed a command', () => {
    const text = render([command(1, { phase: 'end', exitCode: null, signal: 'SIGTERM', durationMs: 5 })]);
    expect(text).toContain('✘ killed by SIGTERM');
  });

  it('starts its own lines on a fresh line when the output stopped mid-line', () => {
    const text = render([output(1, 'no newline'), command(2, { phase: 'end', exitCode: 0, durationMs: 1 })]);
    expect(text.startsWith('no newline\n')).toBe(true);
    expect(render([output(1, 'line\n'), command(2, { phase: 'end', exitCode: 0, durationMs: 1 })])).not.toContain('\n\n');
  });

  it('tells where the job is, once per change, with the suspension in words', () => {
    const text = render([
      state(1, {}),
      state(2, { state: 'leased', attempt: 1, workerName: 'pc-7' }),
      state(3, { state: 'running', attempt: 1, workerName: 'pc-7' }),
      state(4, { state: 'running', attempt: 1, workerName: 'pc-7' }),
      state(5, { state: 'suspended', attempt: 1, workerName: 'pc-7' }),
      state(6, { state: 'failed', attempt: 1, workerName: 'pc-7', exitCode: 2, reason: 'command_failed' }),
    ]);
    expect(text).toContain('queued, waiting for a worker');
    expect(text).toContain('picked up by pc-7 (attempt 1)');
    expect(text.match(/running on pc-7/g)).toHaveLength(1);
    expect(text).toContain("paused on the owner's PC (pc-7)");
    expect(text).toContain('failed: exit code 2');
  });

  it('tells a retry after a failed command from a requeue after a lost worker', () => {
    const text = render([
      state(1, { state: 'queued', attempt: 1, reason: 'command_failed', exitCode: 7 }),
      state(2, { state: 'queued', attempt: 2 }),
    ]);
    expect(text).toContain('attempt 1 failed (exit code 7): retrying');
    expect(text).toContain('back in the queue (attempt 2 did not finish)');
  });

  it('marks dropped output', () => {
    const event: JobEvent = { id: 1, type: 'truncated', data: { attempt: 1, droppedBytes: 10, message: 'output over 16 MiB was dropped' } };
    expect(render([output(0, 'x'), event])).toContain('x\n\x1b[33m… output over 16 MiB was dropped');
  });
});
