// The job terminal's colours, apart from the component so a test can hold them to a contrast ratio.
/** Matches .terminal-frame in styles.css, so the padding around the text is the same colour. */
export const TERMINAL_BACKGROUND = '#16181d';

/**
 * A palette readable on that background: xterm's default blue (#2472c8) and magenta (#bc3fbc) are too dark
 * on it, so every colour here is light enough for a contrast of at least 4.5:1 (bright black, used for our
 * dim lines, included).
 */
export const TERMINAL_THEME = {
  background: TERMINAL_BACKGROUND,
  foreground: '#d8dee9',
  cursor: '#d8dee9',
  black: '#5c6370',
  red: '#f07178',
  green: '#7fd88f',
  yellow: '#e5c07b',
  blue: '#6cb6ff',
  magenta: '#e599f7',
  cyan: '#56d4dd',
  white: '#d8dee9',
  brightBlack: '#8b93a1',
  brightRed: '#ff8f96',
  brightGreen: '#a3f0b0',
  brightYellow: '#ffd98a',
  brightBlue: '#9ccfff',
  brightMagenta: '#f2bdfb',
  brightCyan: '#8ae8ee',
  brightWhite: '#ffffff',
};
