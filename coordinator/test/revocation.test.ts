// Revoking a token cuts off what it already has open: an event stream of a revoked submit token ends within a
// second, also when the revocation comes from `node coordinator token revoke` (another process, same store).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { openStoreOf, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { TokenService } from '../services/tokens';

describe('revoking a token', () => {
  let pool: TestCoordinator;
  beforeEach(async () => {
    pool = await startTestCoordinator();
  });
  afterEach(() => pool.stop());

  it('ends its open event streams within a second', async () => {
    const token = await pool.coordinator.createToken('alice', 'submit');
    const alice = new ApiClient({ baseUrl: pool.url, token });
    const job = await alice.submitJob({ commands: ['sleep 100'] });
    const response = await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open and flowing

    // As `node coordinator token revoke --name alice` does it: another connection to the same store.
    const cli = await openStoreOf(pool.dataDir);
    expect(await new TokenService(cli, Date.now).revoke({ name: 'alice' })).toBe(1);
    await cli.close();
    const revokedAt = Date.now();

    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });
});
