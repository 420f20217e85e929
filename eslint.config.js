// Lint keeps the borders between the parts (DESIGN.md: "Parts"), so nobody has to remember them.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const part = (name) => [`**/${name}`, `**/${name}/**`, `../${name}/*`];
const border = (message, ...groups) => ({
  'no-restricted-imports': ['error', { patterns: groups.map((group) => ({ group, message })) }],
});

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'test-results/', '.data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['protocol/**'],
    ignores: ['protocol/**/*.test.ts'],
    rules: border(
      'protocol/ is shared by every side and imports nothing of ours or of Node/Electron',
      [...part('coordinator'), ...part('main'), ...part('preload'), ...part('renderer'), 'node:*', 'electron'],
    ),
  },
  {
    files: ['common/**'],
    rules: border('common/ holds plain Node helpers that the coordinator and the agent share: protocol/ only', [
      ...part('coordinator'),
      ...part('main'),
      ...part('preload'),
      ...part('renderer'),
      'electron',
    ]),
  },
  {
    files: ['coordinator/**'],
    ignores: ['coordinator/cli.ts', 'coordinator/**/*.test.ts'],
    rules: border('coordinator/ is plain Node and imports only protocol/ and common/', [
      ...part('main'),
      ...part('preload'),
      ...part('renderer'),
      'electron',
    ]),
  },
  {
    // The CLI is a composition root: `--with-worker` embeds the agent.
    files: ['coordinator/cli.ts'],
    rules: border('coordinator/cli.ts may embed the agent, nothing else of main/', [
      ...part('preload'),
      ...part('renderer'),
      'electron',
      '**/main/*',
      '!**/main/agent',
      '!**/main/agent/**',
    ]),
  },
  {
    files: ['main/agent/**'],
    rules: border('main/agent/ is pure Node (it runs headless and in tests): protocol/ and common/ only, never Electron or the coordinator', [
      ...part('preload'),
      ...part('renderer'),
      'electron',
      'electron/*',
      ...(['**/coordinator', '**/coordinator/**', '../coordinator/*']),
    ]),
  },
  {
    files: ['main/agent/**/*.test.ts'],
    rules: border('agent tests may start a real coordinator, never Electron', ['electron', 'electron/*']),
  },
  {
    files: ['preload/**'],
    rules: border('preload/ is the bridge: electron and protocol/ only', [
      ...part('coordinator'),
      ...part('main'),
      ...part('renderer'),
    ]),
  },
  {
    files: ['renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: border('renderer/ runs in a browser: it reaches the rest only through protocol/ and the preload API', [
      ...part('coordinator'),
      ...part('main'),
      ...part('preload'),
      'electron',
      'node:*',
    ]),
  },
  {
    // The renderer's tests drive it from Node: they build it, start a real coordinator and agents, read files.
    files: ['renderer/**/*.test.ts', 'renderer/**/*.test.tsx', 'renderer/e2e/**'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: border('renderer tests never load Electron', ['electron', 'electron/*']),
  },
);
