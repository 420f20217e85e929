import { defineConfig } from 'vitest/config';
import { postgresBinDir } from './test/postgres.ts';

const shared = {
  exclude: ['node_modules/**', 'dist/**'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          ...shared,
          name: 'sqlite',
          include: ['**/*.test.ts', '**/*.test.tsx'],
          exclude: [...shared.exclude, 'test/multi-node/**'],
          globalSetup: ['test/compile-cli.ts'],
        },
      },
      // The store contract and the coordinator suite again, each coordinator on a database of its own in one
      // throwaway PostgreSQL cluster for the run (test/postgres.ts). Without PostgreSQL installed the
      // contract file says so in a skipped test's name.
      ...(postgresBinDir()
        ? [
            {
              test: {
                ...shared,
                name: 'postgres',
                include: ['coordinator/store/contract.test.ts', 'coordinator/test/**/*.test.ts', 'test/multi-node/**/*.test.ts'],
                env: { CMDX_TEST_STORE: 'postgres' },
                globalSetup: ['test/compile-cli.ts', 'test/postgres.ts'],
              },
            },
          ]
        : []),
    ],
  },
});
