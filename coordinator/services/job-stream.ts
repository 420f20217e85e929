// A job's stream as SSE frames: its events (state changes, command records) and its output bytes, in the
// order they happened, read from any position. Positions count events and output bytes alike (job-state.ts):
// an event's id is the position after it; an output frame's id is the position after its last byte. So
// `Last-Event-ID` is an offset: after event e, position p is byte `e.outputOffset + (p - e.id)` of e's attempt.
import { isTerminal, type JobState, type OutputStream } from '../../protocol/api';
import type { EventRecord, StoreOps } from '../store/types';
import type { OutputLog } from './output-log';

/** Events per store read: small enough that a subscriber stuck on a full socket holds little. */
export const EVENT_BATCH = 64;
/** Output bytes per read, and per frame: big frames cost less per byte; a stuck subscriber holds one read. */
const BATCH_BYTES = 1024 * 1024;
const FRAME_BYTES = 256 * 1024;

export interface EventFrame {
  id: number;
  /** `id/event/data` lines as sent; one Buffer shared by every subscriber that writes it. */
  bytes: Buffer;
  /** The job's final `state` event: the stream ends after it. */
  terminal: boolean;
}

export interface StreamRead {
  frames: EventFrame[];
  /** The frames reach the job's end as it was when read. */
  complete: boolean;
}

export type StreamSource = Pick<StoreOps, 'getJob' | 'eventsAfter' | 'eventAtOrBefore'>;

const eventFrame = (event: EventRecord): EventFrame => ({
  id: event.id,
  bytes: Buffer.from(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`),
  terminal: event.type === 'state' && isTerminal((event.data as { state: JobState }).state),
});

/** What JSON must escape in a string, but the newline: text without any of it is quoted with one replaceAll. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const ESCAPED_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f"\\\ud800-\udfff]/;

/** JSON.stringify of a string, ~1.5× faster on log text (lines of printable text), the same string either way. */
export const jsonString = (text: string): string =>
  ESCAPED_BUT_NEWLINE.test(text) ? JSON.stringify(text) : `"${text.replaceAll('\n', '\\n')}"`;

const outputFrame = (id: number, attempt: number, stream: OutputStream, offset: number, data: Buffer): EventFrame => ({
  id,
  bytes: Buffer.from(
    `id: ${id}\nevent: output\ndata: {"attempt":${attempt},"stream":"${stream}","offset":${offset},"text":${jsonString(data.toString('utf8'))}}\n\n`,
  ),
  terminal: false,
});

const truncatedFrame = (id: number, attempt: number, droppedBytes: number, maxOutputBytes: number): EventFrame => ({
  id,
  bytes: Buffer.from(
    `id: ${id}\nevent: truncated\ndata: ${JSON.stringify({
      attempt,
      droppedBytes,
      message: `[cmd-executor: output passed the ${maxOutputBytes}-byte cap; the middle is dropped, the beginning and the latest output are kept]`,
    })}\n\n`,
  ),
  terminal: false,
});

/** How much of `data` ends on a whole UTF-8 character (a frame is text: a character is never split between two). */
function wholeCharacters(data: Buffer): number {
  for (let back = 1; back <= Math.min(3, data.length); back++) {
    const byte = data[data.length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needs > back ? data.length - back : data.length;
  }
  return data.length;
}

export class JobStream {
  constructor(
    private readonly output: OutputLog,
    private readonly maxOutputBytes: number,
  ) {}

  /** The frames after `cursor`: at most a batch of events, and of output bytes. */
  async framesAfter(source: StreamSource, jobId: string, cursor: number): Promise<StreamRead> {
    const job = await source.getJob(jobId);
    const end = job?.lastEventId ?? 0;
    if (cursor >= end) return { frames: [], complete: true };
    const events = await source.eventsAfter(jobId, cursor, EVENT_BATCH);
    let previous = cursor > 0 ? await source.eventAtOrBefore(jobId, cursor) : undefined;
    const frames: EventFrame[] = [];
    let at = cursor;
    let budget = BATCH_BYTES;
    for (let i = 0; i <= events.length; i++) {
      const next = events[i];
      // Output lies between two events; after a full batch the next event is not known yet.
      const until = next ? next.id - 1 : events.length === EVENT_BATCH ? at : end;
      if (at < until && previous) {
        const read = await this.outputFrames(jobId, previous, at, until, budget);
        frames.push(...read.frames);
        budget -= read.bytes;
        at = read.at;
        if (at < until) return { frames, complete: false };
      }
      if (!next) break;
      frames.push(eventFrame(next));
      at = next.id;
      previous = next;
    }
    return { frames, complete: events.length < EVENT_BATCH && at >= end };
  }

  /** Output frames of `event`'s attempt from position `at` to `until`, within `budget` bytes. */
  private async outputFrames(
    jobId: string,
    event: EventRecord,
    at: number,
    until: number,
    budget: number,
  ): Promise<{ frames: EventFrame[]; bytes: number; at: number }> {
    const shift = event.outputOffset - event.id;
    const frames: EventFrame[] = [];
    let bytes = 0;
    while (at < until && bytes < budget) {
      const start = at;
      const asked = Math.min(budget - bytes, until - at);
      const reads = await this.output.read(jobId, event.attempt, at + shift, until + shift, asked);
      if (reads.length === 0) break;
      for (const read of reads) {
        if ('gap' in read) {
          at += read.gap;
          frames.push(truncatedFrame(at, event.attempt, read.gap, this.maxOutputBytes));
          continue;
        }
        let data = read.data;
        // Cut short by the budget: the split character goes with the next read.
        if (read.offset - shift + data.length === start + asked && start + asked < until) {
          const whole = wholeCharacters(data);
          if (whole > 0) data = data.subarray(0, whole);
        }
        for (let from = 0; from < data.length; ) {
          let piece = data.subarray(from, from + FRAME_BYTES);
          if (from + piece.length < data.length) piece = piece.subarray(0, wholeCharacters(piece) || piece.length);
          at += piece.length;
          bytes += piece.length;
          frames.push(outputFrame(at, event.attempt, read.stream, read.offset + from, piece));
          from += piece.length;
        }
        if (data.length < read.data.length) return { frames, bytes, at };
      }
    }
    return { frames, bytes, at };
  }
}
