// A raw-byte output upload: a run of a lease's numbered output chunks of one stream, their bytes back to back in
// a request body. The body is read as it arrives and stored a batch at a time through the lease's ordinary
// output path (written to the attempt's files, then committed with the lease's next sequence number), so memory
// holds at most two batches whatever the upload's size, subscribers see the output as each batch commits, and an
// upload cut mid-body keeps every batch committed before the cut: the agent resends from the committed position.
import type { OutputAck, OutputStream } from '../../protocol/api';
import { ValidationError } from '../errors';
import type { StoredChunk } from './scheduler';

/**
 * Output gathered before it is written and committed: a commit costs little per byte at this size, and a live
 * subscriber, woken per commit, stays within the output the coordinator keeps in memory (1 MiB per attempt).
 */
export const UPLOAD_BATCH_BYTES = 256 * 1024;

export interface OutputRun {
  /** The number of the run's first chunk. */
  seq: number;
  stream: OutputStream;
  /** Each chunk's length in bytes, in order. */
  sizes: readonly number[];
}

/**
 * Stores the run read from `body` with `append` (one call per batch of whole chunks; the next batch is read while
 * one is stored) and answers the last acknowledgement. A body that ends before its chunks do, or goes past them,
 * is refused after the whole chunks before that point are stored.
 */
export async function storeOutputRun(
  run: OutputRun,
  body: AsyncIterable<Buffer>,
  append: (chunks: StoredChunk[]) => Promise<OutputAck>,
): Promise<OutputAck> {
  const total = run.sizes.reduce((sum, size) => sum + size, 0);
  let batch: StoredChunk[] = [];
  let batchBytes = 0;
  let storing: Promise<OutputAck> | undefined;
  let ack: OutputAck | undefined;
  const store = async () => {
    if (batch.length === 0) return;
    const chunks = batch;
    batch = [];
    batchBytes = 0;
    if (storing) ack = await storing;
    storing = append(chunks);
    // Awaited by the next batch or at the end; a body cut meanwhile leaves it to finish (and commit) on its own.
    storing.catch(() => undefined);
  };
  let index = 0;
  let parts: Buffer[] = [];
  let filled = 0;
  for await (const data of body) {
    for (let at = 0; at < data.length; ) {
      const size = run.sizes[index];
      if (size === undefined) {
        await store();
        throw new ValidationError(`the body is longer than the ${total} bytes its chunk sizes add up to`);
      }
      const take = Math.min(size - filled, data.length - at);
      parts.push(data.subarray(at, at + take));
      filled += take;
      at += take;
      if (filled < size) continue;
      batch.push({ seq: run.seq + index, stream: run.stream, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) });
      batchBytes += size;
      index += 1;
      parts = [];
      filled = 0;
      if (batchBytes >= UPLOAD_BATCH_BYTES) await store();
    }
  }
  await store();
  if (storing) ack = await storing;
  if (index < run.sizes.length) {
    throw new ValidationError(`the body ended after ${index} of its ${run.sizes.length} chunks (${total} bytes announced); resend from chunk ${run.seq + index}`);
  }
  return ack!;
}
