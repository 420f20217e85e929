import { describe, expect, it } from 'vitest';
import { isOutputData, type OutputDataChunk, type StreamChunk } from '../../protocol/api';
import { OutputBuffer } from './output';

const outputOf = (chunks: StreamChunk[]): OutputDataChunk[] => chunks.filter(isOutputData);
const text = (chunks: StreamChunk[]) => outputOf(chunks).map((c) => c.data).join('');

describe('OutputBuffer', () => {
  it('cuts numbered chunks at the size limit and when the stream changes', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 10 });
    buffer.write('stdout', Buffer.from('0123456789abcde'));
    buffer.write('stderr', Buffer.from('oops'));
    buffer.write('stdout', Buffer.from('fg'));
    buffer.cut();
    expect(buffer.take(100, 1000)).toEqual([
      { seq: 0, stream: 'stdout', data: '0123456789' },
      { seq: 1, stream: 'stdout', data: 'abcde' },
      { seq: 2, stream: 'stderr', data: 'oops' },
      { seq: 3, stream: 'stdout', data: 'fg' },
    ]);
  });

  it('keeps a character whole when a read splits it, and never splits one across chunks', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 5 });
    const bytes = Buffer.from('ééé€'); // 2+2+2+3 bytes
    buffer.write('stdout', bytes.subarray(0, 1));
    buffer.write('stdout', bytes.subarray(1));
    buffer.end();
    const chunks = buffer.take(100, 1000);
    expect(text(chunks)).toBe('ééé€');
    expect(outputOf(chunks).map((c) => c.data)).toEqual(['éé', 'é€']);
  });

  it('hands out the same chunks until they are acknowledged, so a retry resends the same numbers', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 4 });
    buffer.write('stdout', Buffer.from('aaaabbbbcccc'));
    expect(buffer.take(2, 1000).map((c) => c.seq)).toEqual([0, 1]);
    expect(buffer.take(2, 1000).map((c) => c.seq)).toEqual([0, 1]);
    buffer.ack(1);
    expect(buffer.take(5, 1000).map((c) => c.seq)).toEqual([1, 2]);
    expect(buffer.take(5, 5).map((c) => c.seq)).toEqual([1]);
    expect(buffer.take(5, 1000, 2).map((c) => c.seq)).toEqual([1]);
    buffer.ack(3);
    expect(buffer.take(5, 1000)).toEqual([]);
    expect(buffer.unackedSeq).toBe(3);
  });

  it('sizes a request by the JSON it becomes, so escape-heavy output goes in smaller batches', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 1000 });
    buffer.write('stdout', Buffer.from('a'.repeat(3000)));
    buffer.write('stderr', Buffer.from('\u0001'.repeat(3000))); // 1 byte each, 6 once escaped as \u0001
    buffer.cut();
    // 4000 raw bytes would fit in 5000, but the escaped chunk is ~6 KiB of JSON: only the plain ones go.
    expect(outputOf(buffer.take(100, 5000)).map((c) => c.stream)).toEqual(['stdout', 'stdout', 'stdout']);
    buffer.ack(3);
    // Escaped chunks: ~6 KiB each, so one per request even though each holds only 1000 raw bytes.
    const escaped = outputOf(buffer.take(100, 7000));
    expect(escaped).toHaveLength(1);
    expect(Buffer.byteLength(JSON.stringify(escaped[0]!.data))).toBeGreaterThan(6000);
  });

  it('drops what does not fit while the coordinator lags, and marks the gap once', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 64, maxBufferBytes: 20 });
    buffer.write('stdout', Buffer.from('0123456789'));
    buffer.write('stdout', Buffer.from('this is dropped')); // 10 + 15 > 20
    buffer.write('stdout', Buffer.from('and so is this'));
    buffer.cut();
    expect(buffer.dropped).toBe(29);
    buffer.ack(buffer.cutSeq);
    buffer.write('stdout', Buffer.from('back'));
    buffer.end();
    const chunks = outputOf(buffer.take(100, 1000));
    expect(chunks.map((c) => [c.stream, c.data])).toEqual([
      ['stderr', '\n[cmd-executor: 29 bytes of output dropped on the worker: the coordinator could not keep up]\n'],
      ['stdout', 'back'],
    ]);
  });

  it('marks a drop at the very end too', () => {
    const buffer = new OutputBuffer({ maxBufferBytes: 4 });
    buffer.write('stdout', Buffer.from('abcdefgh'));
    buffer.end();
    expect(text(buffer.take(100, 1000))).toContain('8 bytes of output dropped');
  });

  it('numbers command records in the same sequence as the output around them', () => {
    const buffer = new OutputBuffer({ maxChunkBytes: 100 });
    buffer.record({ phase: 'start', index: 0 });
    buffer.write('stdout', Buffer.from('hi\n'));
    buffer.record({ phase: 'end', index: 0, exitCode: 0, signal: null, durationMs: 3 });
    expect(buffer.take(100, 1000)).toEqual([
      { seq: 0, command: { phase: 'start', index: 0 } },
      { seq: 1, stream: 'stdout', data: 'hi\n' },
      { seq: 2, command: { phase: 'end', index: 0, exitCode: 0, signal: null, durationMs: 3 } },
    ]);
    buffer.ack(3);
    expect(buffer.held).toBe(0);
  });
});
