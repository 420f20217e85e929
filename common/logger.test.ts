import { describe, expect, it } from 'vitest';
import { batchedWrite, createConsoleLogger } from './logger';

describe('batchedWrite', () => {
  it('sends the lines logged in one turn of the event loop in one write, in order, on the next turn', async () => {
    const writes: string[] = [];
    const logger = createConsoleLogger({ write: batchedWrite((text) => writes.push(text)), colour: false, now: () => new Date(0) });
    logger.info('job queued', { job: 'a' });
    logger.warn('job leased', { job: 'a' });
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['[1970-01-01T00:00:00.000Z] [INFO] job queued job=a\n[1970-01-01T00:00:00.000Z] [WARN] job leased job=a\n']);
    logger.info('job succeeded');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(2);
  });
});
