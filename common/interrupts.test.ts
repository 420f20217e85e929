import { describe, expect, it } from 'vitest';
import { onInterrupt, SAME_INTERRUPT_MS } from './interrupts';

describe('onInterrupt', () => {
  it('counts a Ctrl-C delivered twice (terminal, then npm) once, and a later one as the second', () => {
    let now = 1_000;
    const seen: [string, number][] = [];
    // SIGUSR2 stands in for SIGINT: emitting it only calls the listeners, but no test runner listens to it.
    const stop = onInterrupt((signal, count) => seen.push([signal, count]), ['SIGUSR2'], () => now);
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      now += 5;
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(seen).toEqual([['SIGUSR2', 1]]);
      now += SAME_INTERRUPT_MS;
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(seen).toEqual([
        ['SIGUSR2', 1],
        ['SIGUSR2', 2],
      ]);
    } finally {
      stop();
    }
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(seen).toHaveLength(2);
  });
});
