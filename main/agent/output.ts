// What a job prints, cut into numbered chunks for the coordinator. Chunks stay here until the coordinator
// acknowledges them, so a retry resends the same numbers (the coordinator ignores what it already has).
// The buffer is bounded: the reporter pauses the child's pipes well before the cap (backpressure); only when
// the coordinator stays unreachable is new output dropped past the cap, with one marker saying how much,
// instead of the child process being blocked forever or the agent's memory growing without end.
import { StringDecoder } from 'node:string_decoder';
import type { CommandRecordChunk, OutputStream, StreamChunk } from '../../protocol/api';

export interface OutputBufferOptions {
  /** A chunk is closed when it reaches this many bytes (the "64 KiB" of "every 100 ms or 64 KiB"). */
  maxChunkBytes?: number;
  /** Bytes held (unacknowledged plus open) before new output is dropped. */
  maxBufferBytes?: number;
}

export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;
export const DEFAULT_MAX_BUFFER_BYTES = 8 * 1024 * 1024;

type HeldChunk =
  | { seq: number; stream: OutputStream; data: Buffer; /** Its share of a JSON request body, once asked (see take). */ jsonBytes?: number }
  | (CommandRecordChunk & { jsonBytes: number });

/** A run of output chunks of one stream, as raw bytes: the body of one upload. */
export interface OutputRun {
  seq: number;
  stream: OutputStream;
  chunks: Buffer[];
  bytes: number;
}

/** Output bytes of a held chunk (0 for a command record: records are never dropped). */
const outputBytes = (held: HeldChunk): number => ('data' in held ? held.data.length : 0);

/** `{"seq":…,"stream":"stdout","data":},` around each chunk's encoded data, rounded up. */
const CHUNK_JSON_OVERHEAD_BYTES = 64;

/** Its share of a request body: the data JSON-encoded (escapes grow it) plus the seq and stream around it. */
const chunkJsonBytes = (encoded: unknown): number => Buffer.byteLength(JSON.stringify(encoded)) + CHUNK_JSON_OVERHEAD_BYTES;

export class OutputBuffer {
  private readonly maxChunkBytes: number;
  private readonly maxBufferBytes: number;
  private readonly decoders: Record<OutputStream, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  /** Closed chunks not yet acknowledged, lowest seq first. */
  private readonly closed: HeldChunk[] = [];
  private open: { stream: OutputStream; parts: Buffer[]; bytes: number } | null = null;
  private nextSeq = 0;
  private heldBytes = 0;
  /** Output bytes cut into closed chunks and not yet acknowledged. */
  private closedBytes = 0;
  private droppedBytes = 0;
  private totalDroppedBytes = 0;

  constructor(options: OutputBufferOptions = {}) {
    // At least one UTF-8 character must fit in a chunk.
    this.maxChunkBytes = Math.max(4, options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES);
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
  }

  /** Takes output from the child; never blocks, drops (and counts) what does not fit. */
  write(stream: OutputStream, data: Buffer): void {
    this.append(stream, this.decoders[stream].write(data));
  }

  /** The streams ended: flush the bytes of a character split across the last reads. */
  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) this.append(stream, this.decoders[stream].end());
    if (this.droppedBytes > 0) this.addMarker();
    this.cut();
  }

  private append(stream: OutputStream, text: string): void {
    if (text.length === 0) return;
    const encoded = Buffer.from(text);
    if (this.heldBytes + encoded.length > this.maxBufferBytes) {
      this.droppedBytes += encoded.length;
      this.totalDroppedBytes += encoded.length;
      return;
    }
    if (this.droppedBytes > 0) this.addMarker();
    this.heldBytes += encoded.length;
    let start = 0;
    while (start < encoded.length) {
      if (this.open && this.open.stream !== stream) this.cut();
      this.open ??= { stream, parts: [], bytes: 0 };
      const end = characterBoundary(encoded, Math.min(encoded.length, start + this.maxChunkBytes - this.open.bytes));
      // No whole character fits in what is left of the open chunk: close it and start a fresh one.
      if (end === start) {
        this.cut();
        continue;
      }
      this.open.parts.push(encoded.subarray(start, end));
      this.open.bytes += end - start;
      start = end;
      if (this.open.bytes >= this.maxChunkBytes) this.cut();
    }
  }

  /** Marks, in the stream itself, where output was dropped; counted as held so it cannot push past the cap forever. */
  private addMarker(): void {
    const text = `\n[cmd-executor: ${this.droppedBytes} bytes of output dropped on the worker: the coordinator could not keep up]\n`;
    this.droppedBytes = 0;
    this.cut();
    const data = Buffer.from(text);
    this.heldBytes += data.length;
    this.closedBytes += data.length;
    this.closed.push({ seq: this.nextSeq++, stream: 'stderr', data });
  }

  /** Closes the open chunk so it can be sent (the timer's "every 100 ms"). */
  cut(): void {
    if (!this.open) return;
    const { parts, stream } = this.open;
    this.closed.push({ seq: this.nextSeq++, stream, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) });
    this.closedBytes += this.open.bytes;
    this.open = null;
  }

  /** A command's start or end, numbered between the output before it and the output after it. */
  record(command: CommandRecordChunk['command']): void {
    this.cut();
    this.closed.push({ seq: this.nextSeq++, command, jsonBytes: chunkJsonBytes(command) });
  }

  /**
   * Closed chunks from the oldest unacknowledged one (and below `beforeSeq`), up to the limits of one request:
   * `maxJsonBytes` counts the chunks as they are encoded in the request body, not their raw bytes.
   */
  take(maxChunks: number, maxJsonBytes: number, beforeSeq = Infinity): StreamChunk[] {
    const batch: StreamChunk[] = [];
    let jsonBytes = 0;
    for (const held of this.closed) {
      if (held.seq >= beforeSeq || batch.length >= maxChunks) break;
      // Decoded once: the same text is measured (the first time) and sent.
      const data = 'data' in held ? held.data.toString('utf8') : '';
      const size = (held.jsonBytes ??= chunkJsonBytes(data));
      if (batch.length > 0 && jsonBytes + size > maxJsonBytes) break;
      batch.push('data' in held ? { seq: held.seq, stream: held.stream, data } : { seq: held.seq, command: held.command });
      jsonBytes += size;
    }
    return batch;
  }

  /**
   * The closed output chunks of one stream from the oldest unacknowledged one (below `beforeSeq`), as bytes, up
   * to `maxChunks` and `maxBytes` (at least one chunk); null when the oldest is a command record or nothing waits.
   */
  takeRun(maxChunks: number, maxBytes: number, beforeSeq = Infinity): OutputRun | null {
    const first = this.closed[0];
    if (!first || !('data' in first) || first.seq >= beforeSeq) return null;
    const run: OutputRun = { seq: first.seq, stream: first.stream, chunks: [], bytes: 0 };
    for (const held of this.closed) {
      if (!('data' in held) || held.stream !== run.stream || held.seq >= beforeSeq || run.chunks.length >= maxChunks) break;
      if (run.chunks.length > 0 && run.bytes + held.data.length > maxBytes) break;
      run.chunks.push(held.data);
      run.bytes += held.data.length;
    }
    return run;
  }

  /** The coordinator has everything below `nextSeq`: forget it, which makes room for new output. */
  ack(nextSeq: number): void {
    while (this.closed.length > 0 && this.closed[0]!.seq < nextSeq) {
      const bytes = outputBytes(this.closed.shift()!);
      this.heldBytes -= bytes;
      this.closedBytes -= bytes;
    }
  }

  /** Output cut and waiting to be sent, in UTF-8 bytes (enough of it is worth a request of its own). */
  get waitingBytes(): number {
    return this.closedBytes;
  }

  /** Output held (unacknowledged plus open), in UTF-8 bytes. */
  get held(): number {
    return this.heldBytes;
  }

  /** The seq the next closed chunk gets; everything below it has been cut. */
  get cutSeq(): number {
    return this.nextSeq;
  }

  get hasClosedChunks(): boolean {
    return this.closed.length > 0;
  }

  get hasOpenChunk(): boolean {
    return this.open !== null;
  }

  /** The lowest seq not yet acknowledged (= cutSeq when everything cut is acknowledged). */
  get unackedSeq(): number {
    return this.closed[0]?.seq ?? this.nextSeq;
  }

  get dropped(): number {
    return this.totalDroppedBytes;
  }
}

/** `end` moved back to the start of a UTF-8 character, so a chunk never splits one. */
function characterBoundary(bytes: Buffer, end: number): number {
  let boundary = end;
  while (boundary > 0 && boundary < bytes.length && (bytes[boundary]! & 0xc0) === 0x80) boundary--;
  return boundary;
}
