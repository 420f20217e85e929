// Turns a job's events into the text the terminal shows: the program's own bytes (ANSI colours pass
// through untouched), stderr in red, and our own header/footer lines in dim or bold colours.
// Pure: the same event list always gives the same text, which is how a reload replays the terminal.
import type { JobEvent, StateEvent } from '../../../protocol/api';
import { formatDuration, jobStateLabel } from './format';

const ESC = '\x1b[';
const paint = (codes: string, text: string) => `${ESC}${codes}m${text}${ESC}0m`;
const dim = (text: string) => paint('90', text);

export interface TerminalCursor {
  /** Whether the last text written ended a line, so our own lines never start mid-output. */
  atLineStart: boolean;
  /** Commands of the job, for "[2/3]" in headers. */
  commandCount: number;
  /** The last state line written, so a repeated state is not printed twice. */
  lastState: string | null;
}

export const freshCursor = (commandCount: number): TerminalCursor => ({
  atLineStart: true,
  commandCount,
  lastState: null,
});

function stateLine(data: StateEvent): string {
  const worker = data.workerName ?? 'a worker';
  switch (data.state) {
    case 'queued':
      if (data.attempt === 0) return 'queued, waiting for a worker';
      return data.reason === 'command_failed'
        ? `attempt ${data.attempt} failed${data.exitCode !== null ? ` (exit code ${data.exitCode})` : ''}: retrying`
        : `back in the queue (attempt ${data.attempt} did not finish)`;
    case 'leased':
      return `picked up by ${worker} (attempt ${data.attempt})`;
    case 'running':
      return `running on ${worker}`;
    case 'suspended':
      return `${jobStateLabel('suspended')} (${worker}): it continues when the PC is idle again`;
    case 'succeeded':
      return 'succeeded';
    case 'failed': {
      const detail = data.error ?? (data.exitCode !== null ? `exit code ${data.exitCode}` : data.reason);
      return `failed${detail ? `: ${detail}` : ''}`;
    }
    case 'cancelled':
      return 'cancelled';
    case 'timed_out':
      return 'timed out';
  }
}

const stateColour: Partial<Record<StateEvent['state'], string>> = {
  succeeded: '1;32',
  failed: '1;31',
  cancelled: '1;33',
  timed_out: '1;33',
  suspended: '33',
};

/** Returns the text for `event` and the cursor after it. */
export function terminalText(event: JobEvent, cursor: TerminalCursor): { text: string; cursor: TerminalCursor } {
  const newline = cursor.atLineStart ? '' : '\n';
  const ownLine = (line: string, next: Partial<TerminalCursor> = {}) => ({
    text: `${newline}${line}\n`,
    cursor: { ...cursor, atLineStart: true, ...next },
  });
  switch (event.type) {
    case 'output': {
      const { text, stream } = event.data;
      if (text === '') return { text: '', cursor };
      return {
        text: stream === 'stderr' ? paint('31', text) : text,
        cursor: { ...cursor, atLineStart: text.endsWith('\n') },
      };
    }
    case 'command': {
      const { index, command, phase, exitCode, signal, durationMs } = event.data;
      if (phase === 'start') {
        const position = cursor.commandCount > 0 ? `[${index + 1}/${cursor.commandCount}] ` : '';
        return ownLine(paint('1;36', `${position}$ ${command}`));
      }
      const took = durationMs === null ? '' : dim(` in ${formatDuration(durationMs)}`);
      if (exitCode === 0) return ownLine(`${paint('32', '✔ exit 0')}${took}`);
      const how = signal ? `killed by ${signal}` : `exit ${exitCode ?? '?'}`;
      return ownLine(`${paint('31', `✘ ${how}`)}${took}`);
    }
    case 'state': {
      const line = stateLine(event.data);
      if (line === cursor.lastState) return { text: '', cursor };
      const colour = stateColour[event.data.state];
      return ownLine(colour ? paint(colour, `● ${line}`) : dim(`● ${line}`), { lastState: line });
    }
    case 'truncated':
      return ownLine(paint('33', `… ${event.data.message}`));
  }
}
