// The SSE parser every follower uses (CLI, app, UI): frames split anywhere across reads come out whole and once.
import { describe, expect, it } from 'vitest';
import type { JobEvent } from './api';
import { parseEventStream } from './client';

const body = [
  'retry: 2000\n\n',
  'id: 1\nevent: state\ndata: {"state":"queued"}\n\n',
  ': keep-alive\n\n',
  'id: 12\nevent: output\ndata: {"attempt":1,"stream":"stdout","offset":0,"text":"héllo 🎉\\n"}\n\n',
  'id: 13\nevent: command\ndata: {"index":0,\ndata: "phase":"start"}\n\n',
].join('');

async function parse(pieces: Uint8Array[]): Promise<JobEvent[]> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(piece);
      controller.close();
    },
  });
  const events: JobEvent[] = [];
  for await (const event of parseEventStream(new Response(stream))) events.push(event);
  return events;
}

describe('parseEventStream', () => {
  it('gives each frame once, whole, however the bytes are cut', async () => {
    const bytes = new TextEncoder().encode(body);
    const whole = await parse([bytes]);
    expect(whole.map((e) => [e.id, e.type])).toEqual([[1, 'state'], [12, 'output'], [13, 'command']]);
    expect(whole[1]).toMatchObject({ data: { text: 'héllo 🎉\n' } });
    expect(whole[2]).toMatchObject({ data: { index: 0, phase: 'start' } });
    // Byte by byte (splitting every blank line and every multi-byte character), and at every single cut.
    expect(await parse([...bytes].map((b) => Uint8Array.of(b)))).toEqual(whole);
    for (let cut = 1; cut < bytes.length; cut++) expect(await parse([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
  });
});
