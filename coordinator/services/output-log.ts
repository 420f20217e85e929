// Job output as bytes: each attempt's output is appended to its own files in the data dir, not to the store.
// Offsets are logical (byte n of the attempt's output is at offset n, whatever the cap dropped), so a reader
// resumes by offset. An attempt's folder holds:
//   <start>.out  segments of the output, named by the offset of their first byte. The first segment holds the
//                kept beginning (up to half the cap); the others, each a fraction of the cap, hold the rolling
//                end. Past the cap the oldest segment of the end is deleted whole: the gap between the
//                beginning and the first segment left is the cap's cut ("N bytes dropped").
//   streams      the index: one 9-byte record (offset, stream) where the output switches between stdout and
//                stderr. Command boundaries are the `offset` of the job's command records (the store's events).
// The store holds how much of it is committed (the job's output counters); whatever lies past that in the
// files was written for a batch that was never acknowledged (kill -9 between write and commit, a commit that
// failed) and is cut off before the attempt's next write. Readers never read past the committed end.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStream } from '../../protocol/api';

/** Where attempt logs live: the data dir today; a folder shared by several coordinators (`--blob-dir`) later. */
export interface OutputLocation {
  jobDir(jobId: string): string;
  attemptDir(jobId: string, attempt: number): string;
}

export const outputFolder = (root: string): OutputLocation => ({
  jobDir: (jobId) => join(root, jobId),
  attemptDir: (jobId, attempt) => join(root, jobId, String(attempt)),
});

export interface OutputPiece {
  stream: OutputStream;
  data: Buffer;
}

/** Bytes read back: output of one stream from `offset`, or a `gap` of `length` bytes the cap dropped. */
export type OutputRead = { offset: number; stream: OutputStream; data: Buffer } | { offset: number; gap: number };

/** What the store keeps of an attempt's output: together they give its committed end and the cap's cut. */
export interface OutputCounters {
  outputHeadBytes: number;
  outputTailBytes: number;
  outputDroppedBytes: number;
}

export const outputEnd = (c: OutputCounters): number => c.outputHeadBytes + c.outputDroppedBytes + c.outputTailBytes;

export interface OutputLogOptions {
  /** Output kept per attempt: the first half and the latest half. */
  maxOutputBytes: number;
  /**
   * Whether a write is fsynced before it is acknowledged. Without it a write survives kill -9 of the coordinator
   * (it is in the kernel before the store commits its counters), as SQLite's WAL with synchronous=NORMAL does;
   * with it, power loss too, at the cost of one fdatasync per group of concurrent writes.
   */
  fsync: boolean;
  /** Recent output kept in memory per writing attempt, for subscribers that keep up. */
  memoryBytes?: number;
}

const STREAMS: OutputStream[] = ['stdout', 'stderr'];
const INDEX_RECORD = 9;
const SEGMENT = /^(\d+)\.out$/;
const DEFAULT_MEMORY_BYTES = 1024 * 1024;
/** Attempt writers kept open (files and memory); past this the least recently written closes (it reopens if written again). */
const OPEN_WRITERS = 128;

interface Segment {
  start: number;
  size: number;
}

interface StreamMark {
  offset: number;
  stream: OutputStream;
}

const segmentName = (start: number) => `${start}.out`;
/**
 * Files are written at their offsets, not appended to: two coordinators sharing the folder that write one batch
 * at once (a worker's retry overtook its slow first try) write the same bytes at the same place, not twice.
 */
const WRITE_AT = constants.O_WRONLY | constants.O_CREAT;

function parseIndex(bytes: Buffer, end: number): StreamMark[] {
  const marks: StreamMark[] = [];
  for (let at = 0; at + INDEX_RECORD <= bytes.length; at += INDEX_RECORD) {
    const offset = Number(bytes.readBigUInt64BE(at));
    if (offset >= end) break;
    marks.push({ offset, stream: STREAMS[bytes[at + 8]!] ?? 'stdout' });
  }
  return marks;
}

/** The stream of the byte at `offset`, and the offset where the next mark starts (Infinity: none). */
function streamAt(marks: readonly StreamMark[], offset: number): { stream: OutputStream; until: number } {
  let lo = 0;
  let hi = marks.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid]!.offset <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return { stream: found < 0 ? 'stdout' : marks[found]!.stream, until: marks[found + 1]?.offset ?? Infinity };
}

/** Runs fdatasync for every writer that asked since the last round, in one round: a group commit. */
class GroupSync {
  private dirty = new Set<FileHandle>();
  private round: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  sync(files: Iterable<FileHandle>): Promise<void> {
    for (const file of files) this.dirty.add(file);
    // A round already running may have started before these writes: they wait for the one after it.
    this.next ??= (this.round ?? Promise.resolve()).then(() => {
      const files = [...this.dirty];
      this.dirty.clear();
      this.next = undefined;
      this.round = Promise.all(files.map((f) => f.datasync())).then(() => undefined);
      return this.round;
    });
    return this.next;
  }
}

/** The files of the attempt being written. One writer per attempt; appends are serialized by the caller. */
class AttemptWriter {
  private readonly handles = new Map<number, FileHandle>();
  private index!: FileHandle;
  private segments: Segment[] = [];
  private marks: StreamMark[] = [];
  /** Offset after the last byte written to the files (committed or not). */
  end = 0;
  /** The latest output, for readers that keep up: pieces in order, ending at `end`. */
  private recent: { offset: number; stream: OutputStream; data: Buffer }[] = [];
  private recentBytes = 0;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly headLimit: number,
    private readonly segmentBytes: number,
    private readonly memoryBytes: number,
  ) {}

  /** Opens the attempt's files, cut back to what the store committed (a crash may have left more). */
  async open(committed: OutputCounters): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const end = outputEnd(committed);
    const tailStart = this.headLimit + committed.outputDroppedBytes;
    for (const name of await readdir(this.dir)) {
      const match = SEGMENT.exec(name);
      if (!match) continue;
      const start = Number(match[1]);
      // Dropped by a commit whose deletion a crash cut short.
      if (start > 0 && start < tailStart) {
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      // Past the committed end: never acknowledged. Emptied, not deleted: another coordinator sharing the folder
      // may hold it open, and a deleted file would take what it writes next out of everyone's sight.
      const size = Math.min((await stat(join(this.dir, name))).size, Math.max(0, end - start));
      await truncate(join(this.dir, name), size);
      if (start < end) this.segments.push({ start, size });
    }
    this.segments.sort((a, b) => a.start - b.start);
    const indexFile = join(this.dir, 'streams');
    const index = await readFile(indexFile).catch(() => Buffer.alloc(0));
    this.marks = parseIndex(index, end);
    this.index = await open(indexFile, WRITE_AT);
    await this.index.truncate(this.marks.length * INDEX_RECORD);
    this.end = end;
  }

  /**
   * Appends the pieces at `end`; returns the files to sync, and the end's oldest segments that fell out of the
   * cap, to delete once the store committed the counters that no longer count them.
   */
  append(pieces: readonly OutputPiece[], tailLimit: number, sync: GroupSync | undefined): Promise<{ counters: OutputCounters; dropped: Segment[] }> {
    const run = this.appendNow(pieces, tailLimit, sync);
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async appendNow(pieces: readonly OutputPiece[], tailLimit: number, sync: GroupSync | undefined): Promise<{ counters: OutputCounters; dropped: Segment[] }> {
    // Segments before the newest were synced by the write that filled them: closed now, not while it synced.
    await this.closeOlderThan(this.segments.at(-1)?.start ?? 0);
    const segmentsBefore = this.handles.size;
    const files = new Set<FileHandle>();
    const marksAt = this.marks.length * INDEX_RECORD;
    const marks: Buffer[] = [];
    // One write per segment for the whole batch: each write is a trip through libuv's thread pool.
    let run: { handle: FileHandle; position: number; parts: Buffer[] } | undefined;
    for (const piece of pieces) {
      if (piece.data.length === 0) continue;
      if (this.marks.at(-1)?.stream !== piece.stream) {
        const record = Buffer.alloc(INDEX_RECORD);
        record.writeBigUInt64BE(BigInt(this.end));
        record[8] = STREAMS.indexOf(piece.stream);
        marks.push(record);
        this.marks.push({ offset: this.end, stream: piece.stream });
      }
      this.remember(this.end, piece.stream, piece.data);
      for (let at = 0; at < piece.data.length; ) {
        const segment = await this.writableSegment();
        const room = (segment.start === 0 ? this.headLimit : this.segmentBytes) - segment.size;
        const part = piece.data.subarray(at, at + room);
        const handle = await this.handle(segment);
        if (run?.handle !== handle) {
          if (run) await writeAllAt(run.handle, run.parts, run.position);
          run = { handle, position: segment.size, parts: [] };
        }
        run.parts.push(part);
        files.add(handle);
        segment.size += part.length;
        this.end += part.length;
        at += part.length;
      }
    }
    if (run) await writeAllAt(run.handle, run.parts, run.position);
    if (marks.length) {
      await writeFully(this.index, Buffer.concat(marks), marksAt);
      files.add(this.index);
    }
    // The end keeps at least `tailLimit` bytes: its oldest segment goes once the others hold that much.
    const dropped: Segment[] = [];
    while (this.segments.length > 2 && this.end - this.segments[2]!.start >= tailLimit) dropped.push(...this.segments.splice(1, 1));
    if (sync && files.size) {
      await sync.sync(files);
      // A segment created by this write is only durable once the folder's entry for it is.
      if (this.handles.size > segmentsBefore) await syncFolder(this.dir);
    }
    return { counters: this.counters(), dropped };
  }

  private async closeOlderThan(start: number): Promise<void> {
    for (const [at, handle] of this.handles) {
      if (at < start) {
        this.handles.delete(at);
        await handle.close();
      }
    }
  }

  async delete(segments: readonly Segment[]): Promise<void> {
    await this.writing;
    for (const { start } of segments) {
      await this.handles.get(start)?.close();
      this.handles.delete(start);
      await rm(join(this.dir, segmentName(start)), { force: true });
    }
  }

  /** The counters of what is on disk now; the caller commits them once the bytes are safe. */
  counters(): OutputCounters {
    const head = Math.min(this.end, this.headLimit);
    const tailStart = this.segments[1]?.start ?? this.end;
    return { outputHeadBytes: head, outputDroppedBytes: Math.max(0, tailStart - head), outputTailBytes: Math.max(0, this.end - Math.max(tailStart, head)) };
  }

  /** Committed output from `from` to `to`, if memory still holds all of it from `from`. */
  fromMemory(from: number, to: number, maxBytes: number): OutputRead[] | undefined {
    const first = this.recent[0];
    if (!first || from < first.offset || to > this.end) return undefined;
    // One stream's pieces in a row are one read, joined once at the end (joining as they come copies a batch many times).
    const runs: { offset: number; stream: OutputStream; parts: Buffer[] }[] = [];
    let budget = maxBytes;
    for (const piece of this.recent) {
      const pieceEnd = piece.offset + piece.data.length;
      if (pieceEnd <= from) continue;
      if (piece.offset >= to || budget <= 0) break;
      const start = Math.max(from, piece.offset);
      const stop = Math.min(to, pieceEnd, start + budget);
      const data = piece.data.subarray(start - piece.offset, stop - piece.offset);
      const last = runs.at(-1);
      if (last?.stream === piece.stream) last.parts.push(data);
      else runs.push({ offset: start, stream: piece.stream, parts: [data] });
      budget -= data.length;
    }
    return runs.map(({ offset, stream, parts }) => ({ offset, stream, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }));
  }

  async close(): Promise<void> {
    // Closed while a write is under way (evicted, the lease ended): after it.
    await this.writing;
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
    await this.index?.close();
  }

  private remember(offset: number, stream: OutputStream, data: Buffer): void {
    if (this.memoryBytes <= 0) return;
    // A copy: the caller's buffer may be a slice of a larger request body that memory should not pin.
    this.recent.push({ offset, stream, data: Buffer.from(data) });
    this.recentBytes += data.length;
    while (this.recentBytes > this.memoryBytes && this.recent.length > 1) this.recentBytes -= this.recent.shift()!.data.length;
  }

  private async writableSegment(): Promise<Segment> {
    const last = this.segments.at(-1);
    if (last && last.size < (last.start === 0 ? this.headLimit : this.segmentBytes)) return last;
    const segment = { start: this.end, size: 0 };
    this.segments.push(segment);
    return segment;
  }

  private async handle(segment: Segment): Promise<FileHandle> {
    let handle = this.handles.get(segment.start);
    if (!handle) {
      handle = await open(join(this.dir, segmentName(segment.start)), WRITE_AT);
      this.handles.set(segment.start, handle);
    }
    return handle;
  }
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `parts` one after the other from `position`, in one call unless the system writes less. */
async function writeAllAt(handle: FileHandle, parts: Buffer[], position: number): Promise<void> {
  const { bytesWritten } = await handle.writev(parts, position);
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  if (bytesWritten < total) await writeFully(handle, Buffer.concat(parts).subarray(bytesWritten), position + bytesWritten);
}

/** Writes all of `data` at `position`. */
async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

export class OutputLog {
  private readonly writers = new Map<string, AttemptWriter>();
  private readonly group = new GroupSync();
  readonly headLimit: number;
  readonly tailLimit: number;
  private readonly segmentBytes: number;

  constructor(
    private readonly location: OutputLocation,
    private readonly options: OutputLogOptions,
  ) {
    this.headLimit = Math.max(1, Math.floor(options.maxOutputBytes / 2));
    this.tailLimit = Math.max(1, options.maxOutputBytes - this.headLimit);
    // The end is dropped a segment at a time: a quarter of it keeps the kept end within 1.25× its half.
    this.segmentBytes = Math.max(1, Math.min(16 * 1024 * 1024, Math.ceil(this.tailLimit / 4)));
  }

  /**
   * Appends an attempt's pieces after its committed end and returns the counters to commit; the bytes are
   * written (and fsynced, if so configured) when it resolves. `committed()` is to be called once the store
   * committed them: it deletes what the cap dropped. Calls for one attempt must not overlap.
   */
  async append(
    jobId: string,
    attempt: number,
    committed: OutputCounters,
    pieces: readonly OutputPiece[],
  ): Promise<{ counters: OutputCounters; committed: () => Promise<void> }> {
    const writer = await this.writer(jobId, attempt, committed);
    const { counters, dropped } = await writer.append(pieces, this.tailLimit, this.options.fsync ? this.group : undefined);
    return { counters, committed: () => writer.delete(dropped) };
  }

  /**
   * The attempt's committed output in [from, to), at most `maxBytes` of it, from memory when a writer still
   * holds it, else from the files. Each read is one stream; bytes the cap dropped come back as a gap.
   */
  async read(jobId: string, attempt: number, from: number, to: number, maxBytes: number): Promise<OutputRead[]> {
    if (from >= to) return [];
    const cached = this.writers.get(`${jobId}/${attempt}`)?.fromMemory(from, to, maxBytes);
    if (cached) return cached;
    const dir = this.location.attemptDir(jobId, attempt);
    const names = await readdir(dir).catch(() => [] as string[]);
    const starts = names.flatMap((n) => SEGMENT.exec(n)?.[1] ?? []).map(Number).sort((a, b) => a - b);
    const marks = parseIndex(await readFile(join(dir, 'streams')).catch(() => Buffer.alloc(0)), to);
    const out: OutputRead[] = [];
    let at = from;
    let budget = maxBytes;
    for (let i = 0; i < starts.length && at < to && budget > 0; i++) {
      const start = starts[i]!;
      const nextStart = starts[i + 1] ?? Infinity;
      if (nextStart <= at) continue;
      if (start > at) {
        const gap = Math.min(start, to) - at;
        out.push({ offset: at, gap });
        at += gap;
        if (at >= to) break;
      }
      const data = await readRange(join(dir, segmentName(start)), at - start, Math.min(to, nextStart, at + budget) - at);
      if (data.length === 0) continue;
      for (let piece = 0; piece < data.length; ) {
        const { stream, until } = streamAt(marks, at + piece);
        const length = Math.min(data.length - piece, until - (at + piece));
        const bytes = data.subarray(piece, piece + length);
        const last = out.at(-1);
        // One stream's bytes across two segments are one read.
        if (last && 'stream' in last && last.stream === stream && last.offset + last.data.length === at + piece) last.data = Buffer.concat([last.data, bytes]);
        else out.push({ offset: at + piece, stream, data: bytes });
        piece += length;
      }
      at += data.length;
      budget -= data.length;
    }
    // Past every file: dropped (a segment deleted since the listing, the files of a job from before they existed).
    if (at < to && budget > 0) out.push({ offset: at, gap: to - at });
    return out;
  }

  /** Closes the attempt's files (its lease ended); its output stays readable from the files. */
  async finish(jobId: string, attempt: number): Promise<void> {
    const key = `${jobId}/${attempt}`;
    const writer = this.writers.get(key);
    this.writers.delete(key);
    await writer?.close();
  }

  /** Deletes every attempt's output of a job (retention). */
  async remove(jobId: string): Promise<void> {
    for (const [key, writer] of this.writers) {
      if (key.startsWith(`${jobId}/`)) {
        this.writers.delete(key);
        await writer.close();
      }
    }
    await rm(this.location.jobDir(jobId), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    for (const writer of this.writers.values()) await writer.close();
    this.writers.clear();
  }

  private async writer(jobId: string, attempt: number, committed: OutputCounters): Promise<AttemptWriter> {
    const key = `${jobId}/${attempt}`;
    let writer = this.writers.get(key);
    // A writer ahead of the store wrote a batch whose commit failed: it reopens, cut back to the committed end.
    if (writer && writer.end !== outputEnd(committed)) {
      await writer.close();
      this.writers.delete(key);
      writer = undefined;
    }
    if (writer) {
      // Most recently written last: the map's first entry is the one to close when too many are open.
      this.writers.delete(key);
      this.writers.set(key, writer);
      return writer;
    }
    writer = new AttemptWriter(this.location.attemptDir(jobId, attempt), this.headLimit, this.segmentBytes, this.options.memoryBytes ?? DEFAULT_MEMORY_BYTES);
    await writer.open(committed);
    this.writers.set(key, writer);
    if (this.writers.size > OPEN_WRITERS) {
      const [oldestKey, oldest] = this.writers.entries().next().value as [string, AttemptWriter];
      this.writers.delete(oldestKey);
      await oldest.close();
    }
    return writer;
  }
}

async function readRange(file: string, position: number, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const buffer = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(buffer, read, length - read, position + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}
