import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useAppStore } from '../app-store';
import { TERMINAL_THEME } from '../lib/terminal-theme';
import type { TerminalFeed } from '../store/job-view';


/**
 * One xterm per job (JobView keys it by job id): it writes the store's feed for `jobId` as it grows and
 * ignores any other job's feed, and a new generation of its own feed (a reopen) clears the screen first.
 * It follows the output while the view is at the bottom; scrolling up stops that (xterm keeps the view where
 * the reader put it) until "Follow" or a scroll back down. Search finds text in the whole scrollback.
 */
export function JobTerminal({ jobId }: { jobId: string }) {
  const host = useRef<HTMLDivElement>(null);
  const xterm = useRef<{ terminal: Terminal; search: SearchAddon } | null>(null);
  const [following, setFollowing] = useState(true);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<boolean | null>(null);

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
    const search = new SearchAddon();
    terminal.loadAddon(fit);
    terminal.loadAddon(search);
    terminal.open(element);
    fit.fit();
    xterm.current = { terminal, search };
    const scrolled = terminal.onScroll(() => {
      const { viewportY, baseY } = terminal.buffer.active;
      setFollowing(viewportY >= baseY);
    });

    let shown = { generation: -1, count: 0 };
    const show = (feed: TerminalFeed) => {
      if (feed.jobId !== jobId) return;
      if (feed.generation !== shown.generation) {
        // Writes are queued and reset() is not: a full reset through the queue cannot be overtaken by text
        // written before it.
        if (shown.count > 0) terminal.write('\x1bc');
        shown = { generation: feed.generation, count: 0 };
      }
      for (let i = shown.count; i < feed.length; i++) terminal.write(feed.chunks[i] as string);
      shown.count = feed.length;
    };
    show(useAppStore.getState().terminal);
    const unsubscribe = useAppStore.subscribe((state, previous) => {
      if (state.terminal !== previous.terminal) show(state.terminal);
    });
    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(element);
    return () => {
      unsubscribe();
      scrolled.dispose();
      resize.disconnect();
      xterm.current = null;
      terminal.dispose();
    };
  }, [jobId]);

  const find = (backwards: boolean) => {
    if (!xterm.current || !query) return;
    const { search } = xterm.current;
    setFound(backwards ? search.findPrevious(query) : search.findNext(query));
  };
  const onSearchKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Enter') find(event.shiftKey);
    if (event.key === 'Escape') {
      setQuery('');
      setFound(null);
      xterm.current?.search.clearDecorations();
      xterm.current?.terminal.clearSelection();
    }
  };

  return (
    <div className="terminal-box">
      <div className="terminal-tools">
        <input
          type="search"
          aria-label="Search the output"
          placeholder="Find in output"
          title="Enter: next match, Shift+Enter: previous, Esc: clear"
          value={query}
          aria-invalid={found === false ? true : undefined}
          onChange={(event) => {
            setQuery(event.target.value);
            setFound(null);
          }}
          onKeyDown={onSearchKey}
        />
        <button type="button" aria-label="Previous match" disabled={!query} onClick={() => find(true)}>
          ↑
        </button>
        <button type="button" aria-label="Next match" disabled={!query} onClick={() => find(false)}>
          ↓
        </button>
        {found === false && <span className="hint">not found</span>}
        <button
          type="button"
          className={following ? 'quiet follow on' : 'follow'}
          aria-pressed={following}
          title={following ? 'Following the output; scroll up to stop' : 'Jump to the end and follow the output'}
          onClick={() => {
            xterm.current?.terminal.scrollToBottom();
            setFollowing(true);
          }}
        >
          {following ? 'Following' : 'Follow'}
        </button>
      </div>
      <div className="terminal-frame">
        <div className="terminal" ref={host} role="log" aria-label="Job output" />
      </div>
    </div>
  );
}
