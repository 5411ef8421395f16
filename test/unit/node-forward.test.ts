// connectTcpForward: a forwarded connection's socket as WHATWG streams (Node), with sshd's words for failures.
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTcpForward } from '../../src/io/node-net.ts';

const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
beforeAll(() => void process.on('warning', onWarning));
afterAll(() => void process.off('warning', onWarning));

const listen = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const req = (port: number, host = '127.0.0.1') => ({ kind: 'direct-tcpip' as const, host, port, originHost: '127.0.0.1', originPort: 1 });

describe('connectTcpForward', () => {
  it('a refused connection rejects with "Connection refused"', async () => {
    const tmp = net.createServer();
    const port = await listen(tmp);
    await new Promise((r) => tmp.close(r));
    await expect(connectTcpForward(req(port))).rejects.toThrow(/^Connection refused$/);
  });

  it('16 MiB to a peer that reads in bursts: every byte arrives; EOF half-closes and the reply still arrives; no warnings', async () => {
    let received = 0;
    const server = net.createServer({ allowHalfOpen: true }, (c) => {
      // Read in bursts with pauses, so writes back up many times.
      const tick = setInterval(() => (c.isPaused() ? c.resume() : c.pause()), 5);
      c.on('data', (d) => (received += d.length));
      c.on('end', () => {
        clearInterval(tick);
        c.end(`got ${received}`);
      });
    });
    const port = await listen(server);
    const f = await connectTcpForward(req(port));
    const w = f.writable.getWriter();
    const chunk = new Uint8Array(32 * 1024);
    for (let i = 0; i < 512; i++) await w.write(chunk);
    await w.close();
    let reply = '';
    for await (const part of f.readable as unknown as AsyncIterable<Uint8Array>) reply += new TextDecoder().decode(part);
    expect(reply).toBe(`got ${16 << 20}`);
    expect(warnings).toEqual([]);
    f.close?.();
    server.close();
  }, 30_000);
});
