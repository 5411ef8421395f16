// A reference SSH server built on the ssh2 npm package, for side-by-side measurements.
// Supports exec of `cat > /dev/null`, `head -c N /dev/zero` and `true`, like the edgessh demo shell.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import ssh2 from 'ssh2';

const [port, hostKeyFile, authorizedKeysFile] = process.argv.slice(2);
// Verify publickey logins as the other servers do, so handshake costs compare fairly.
const allowed = authorizedKeysFile
  ? readFileSync(authorizedKeysFile, 'utf8').split('\n').filter(Boolean).map((l) => ssh2.utils.parseKey(l))
  : [];
const server = new ssh2.Server({ hostKeys: [readFileSync(hostKeyFile)] }, (client) => {
  client.on('authentication', (ctx) => {
    if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
    const key = allowed.find((k) => k.getPublicSSH().equals(ctx.key.data));
    if (!key) return ctx.reject(['publickey']);
    if (!ctx.signature) return ctx.accept();
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
    ctx.reject(['publickey']);
  });
  client.on('error', () => {});
  // Remote port forwarding (bench section 11): listen on loopback, each connection forwarded out to the client.
  client.on('request', (accept, reject, name, info) => {
    if (name !== 'tcpip-forward') return reject?.();
    const srv = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('error', () => {});
      client.forwardOut(info.bindAddr, info.bindPort, sock.remoteAddress ?? '127.0.0.1', sock.remotePort ?? 0, (err, ch) => {
        if (err) return sock.destroy();
        sock.pipe(ch).pipe(sock);
      });
    });
    srv.listen(info.bindPort, '127.0.0.1', () => accept?.(srv.address().port));
    client.on('close', () => srv.close());
  });
  // Local port forwarding (bench section 10): connect, then pipe both ways.
  client.on('tcpip', (accept, reject, info) => {
    const s = net.connect(info.destPort, info.destIP);
    s.setNoDelay(true);
    s.once('error', () => reject());
    s.once('connect', () => {
      const ch = accept();
      ch.pipe(s).pipe(ch);
    });
  });
  client.on('ready', () => {
    client.on('session', (accept) => {
      const session = accept();
      session.on('pty', (a) => a?.());
      session.on('shell', (acceptShell) => acceptShell());
      session.on('exec', (acceptExec, _reject, info) => {
        const ch = acceptExec();
        const cmd = info.command;
        const m = /^head -c (\d+) \/dev\/zero$/.exec(cmd);
        if (m) {
          let left = Number(m[1]);
          const chunk = Buffer.alloc(32768);
          const pump = () => {
            while (left > 0) {
              const n = Math.min(left, chunk.length);
              left -= n;
              if (!ch.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return ch.once('drain', pump);
            }
            ch.exit(0);
            ch.end();
          };
          pump();
        } else if (cmd === 'cat > /dev/null') {
          ch.on('data', () => {});
          ch.on('end', () => {
            ch.exit(0);
            ch.end();
          });
        } else {
          ch.exit(0);
          ch.end();
        }
      });
    });
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
