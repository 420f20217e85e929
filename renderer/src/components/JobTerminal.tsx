import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef } from 'react';
import { useAppStore } from '../app-store';
import { TERMINAL_THEME } from '../lib/terminal-theme';
import type { TerminalFeed } from '../store/job-view';


/**
 * One xterm per job (JobView keys it by job id): it writes the store's feed for `jobId` as it grows and
 * ignores any other job's feed, and a new generation of its own feed (a reopen) clears the screen first.
 */
export function JobTerminal({ jobId }: { jobId: string }) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const terminal = new Terminal({
      convertEol: true,
      disableStdin: true,
      cursorBlink: false,
      cursorStyle: 'bar',
      cursorInactiveStyle: 'none',
      scrollback: 100_000,
      fontSize: 13,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: TERMINAL_THEME,
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(element);
    fit.fit();

    let shown = { generation: -1, count: 0 };
    const show = (feed: TerminalFeed) => {
      if (feed.jobId !== jobId) return;
      if (feed.generation !== shown.generation) {
        // Writes are queued and reset() is not: a full reset through the queue cannot be overtaken by text
        // written before it.
        if (shown.count > 0) terminal.write('\x1bc');
        shown = { generation: feed.generation, count: 0 };
      }
      for (let i = shown.count; i < feed.chunks.length; i++) terminal.write(feed.chunks[i] as string);
      shown.count = feed.chunks.length;
    };
    show(useAppStore.getState().terminal);
    const unsubscribe = useAppStore.subscribe((state, previous) => {
      if (state.terminal !== previous.terminal) show(state.terminal);
    });
    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(element);
    return () => {
      unsubscribe();
      resize.disconnect();
      terminal.dispose();
    };
  }, [jobId]);

  return (
    <div className="terminal-frame">
      <div className="terminal" ref={host} role="log" aria-label="Job output" />
    </div>
  );
}
