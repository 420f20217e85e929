// Which addresses stay on this machine: plain HTTP and open /metrics are allowed there only.
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || bare.startsWith('127.') || bare.startsWith('::ffff:127.');
};

/**
 * The coordinator URLs of `--server URL1,URL2,…` (CMDX_SERVER): the nodes of one pool, tried in this order.
 * Each is an http(s) URL, returned without a trailing slash; anything else throws an Error saying which and why.
 */
export function parseServerList(raw: string): string[] {
  const servers = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw new Error('no coordinator URL given; give one like http://pool-host:8080 (several comma-separated)');
  return servers.map((server) => {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new Error(`"${server}" is not a URL; give one like http://pool-host:8080 (several comma-separated)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${server}" is not an http:// or https:// URL`);
    return server.replace(/\/+$/, '');
  });
}
