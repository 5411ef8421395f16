/**
 * The edgessh Worker: `GET /ssh` (WebSocket upgrade) hands the socket to a fresh SshSession Durable Object;
 * `GET /healthz` answers; the web pages come from web/ as static assets; anything else is a short 404.
 */
import { Hono } from 'hono';
import type { Env } from './env.ts';

export { SshSession } from './session.ts';
export { UserFiles } from './files.ts';

const app = new Hono<{ Bindings: Env }>();

app.get('/healthz', (c) => c.text('ok\n'));

app.get('/ssh', (c) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket')
    return c.text('edgessh: /ssh speaks SSH over a WebSocket; send an Upgrade: websocket request (see the README).\n', 426, {
      Upgrade: 'websocket',
    });
  const id = c.env.SESSIONS.newUniqueId();
  return c.env.SESSIONS.get(id).fetch(c.req.raw);
});

// A raw WebSocket echo through a Durable Object, only when BENCH_ECHO is set (npm run bench sets it):
// the baseline that SSH throughput through the Worker is compared with.
app.get('/echo', (c) => {
  if (c.env.BENCH_ECHO !== '1' || c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.notFound();
  return c.env.SESSIONS.get(c.env.SESSIONS.newUniqueId()).fetch(c.req.raw);
});

app.get('/', async (c) => {
  if (c.env.ASSETS) return c.env.ASSETS.fetch(c.req.raw);
  return c.text('edgessh is running. Connect with an SSH client through `edgessh proxy` (see the README).\n');
});

app.notFound((c) => c.text(`Not found: ${new URL(c.req.url).pathname}. edgessh serves /ssh (WebSocket), /healthz and /.\n`, 404));

export default app;
