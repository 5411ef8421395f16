// connectTcpForward: a forwarded connection's socket as WHATWG streams (Node), with sshd's words for failures;
// tcpForwardListener: a remote forward's listener, bound as sshd's GatewayPorts says.
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTcpForward, forwardBindAddress, tcpForwardListener } from '../../src/io/node-net.ts';

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

describe('remote-forward listeners (tcpForwardListener, sshd GatewayPorts)', () => {
  it('the bind address per GatewayPorts: no is loopback whatever is asked; yes every interface; clientspecified what the client says', () => {
    const cases: [string, 'no' | 'yes' | 'clientspecified', string][] = [
      ['', 'no', '127.0.0.1'], ['0.0.0.0', 'no', '127.0.0.1'], ['::1', 'no', '::1'], ['10.1.2.3', 'no', '127.0.0.1'],
      ['localhost', 'yes', '::'], ['', 'yes', '::'],
      ['', 'clientspecified', '::'], ['*', 'clientspecified', '::'], ['localhost', 'clientspecified', '127.0.0.1'], ['127.0.0.2', 'clientspecified', '127.0.0.2'],
    ];
    for (const [address, gp, bound] of cases) expect([address, gp, forwardBindAddress(address, gp)]).toEqual([address, gp, bound]);
  });

  it('listens, hands each connection over with where it came from, frees the port when closed; a port in use is an error', async () => {
    const got: { originHost: string; text: string }[] = [];
    const l = await tcpForwardListener('no')({ kind: 'tcpip-forward', address: '', port: 0 }, (c) => {
      void new Response(c.stream.readable).text().then((text) => {
        got.push({ originHost: c.originHost, text });
        c.stream.close?.();
      });
    });
    const s = net.connect(l.port, '127.0.0.1');
    s.on('error', () => {});
    s.end('through');
    await expect.poll(() => got).toEqual([{ originHost: '127.0.0.1', text: 'through' }]);
    s.destroy();
    await expect(tcpForwardListener('no')({ kind: 'tcpip-forward', address: '', port: l.port }, () => {})).rejects.toThrow('EADDRINUSE');
    l.close();
    const again = await tcpForwardListener('clientspecified')({ kind: 'tcpip-forward', address: '127.0.0.2', port: l.port }, () => {});
    expect(again.port).toBe(l.port);
    again.close();
  });
});
