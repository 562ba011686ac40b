// A tiny static HTTP server on a loopback port of its own: a page's origin that differs from
// the gateway's (another port is another origin).
import http from 'node:http';

/**
 * Serve `files` ({"/index.html": "<html>…"}) at http://<host>:<free port>.
 * Returns {origin, close}.
 */
export async function serveStatic(files, host = '127.0.0.1') {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const body = files[path === '/' ? '/index.html' : path];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const type = path.endsWith('.js') || path.endsWith('.mjs') ? 'text/javascript' : 'text/html';
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8` }).end(body);
  });
  await new Promise((ok) => server.listen(0, host, ok));
  const { port } = server.address();
  return {
    origin: `http://${host}:${port}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}
