/**
 * The `edgessh` command: serve, keygen, fingerprint, and the bridges. Each command's code is loaded when
 * it runs: `edgessh proxy` starts once per ssh connection, and loading the server with it cost ~0.1 s.
 */
import { EDGESSH_VERSION } from '../transport/version.ts';
import { fail } from './util.ts';

const USAGE = `edgessh ${EDGESSH_VERSION} — an SSH server that runs wherever JavaScript runs

usage:
  edgessh serve [--listen HOST:PORT] [--host-key FILE]... [--host-certificate FILE]...
                [--authorized-keys FILE|PATH-WITH-%u]... [--authorized-keys-command 'PROGRAM [ARG]...']
                [--trusted-user-ca-keys FILE]... [--authorized-principals-file PATH]
                [--authorized-principals-command 'PROGRAM [ARG]...']
                [--revoked-keys FILE] [--password-env VAR] [--allow-users 'PATTERN...'] [--deny-users 'PATTERN...']
                [--permit-open HOST:PORT]... [--permit-listen [HOST:]PORT]...
                [--gateway-ports no|yes|clientspecified] [--max-startups S:R:F]
                [--client-alive-interval SECONDS] [--client-alive-count-max N]
                [--max-auth-tries N] [--max-sessions N] [--login-grace-time SECONDS]
                [--data DIR] [--kex LIST]
                [--ciphers LIST] [--macs LIST] [--host-key-algorithms LIST] [--compression yes|no]
                [--rekey-limit SIZE[:SECONDS]] [--banner TEXT] [--crypto node|portable] [--quiet]
  edgessh proxy URL                                  stdin/stdout ↔ WebSocket (a ProxyCommand)
  edgessh bridge [--listen HOST:PORT] --to URL       each TCP connection ↔ one WebSocket
  edgessh websockify [--listen HOST:PORT] --to HOST:PORT   each WebSocket ↔ one TCP connection
  edgessh keygen -t ed25519|ecdsa|rsa [-b BITS] -f FILE [-C COMMENT]
  edgessh keygen -s CA -I ID [-h] [-n PRINCIPALS] [-V FROM:TO] [-z SERIAL] [-O OPTION]... KEY.pub...
  edgessh fingerprint FILE

LIST is comma-separated; '+name' appends to the defaults (how OpenSSH enables legacy algorithms).
--permit-open allows local port forwarding (ssh -L/-W/-J) to HOST:PORT (* for any host or port, or any).
--permit-listen allows remote forwarding (ssh -R) on [HOST:]PORT (* for any port, or any), never on ports
  below 1024; --gateway-ports is sshd's GatewayPorts (default no: loopback only).
--host-certificate is sshd's HostCertificate: a host key's certificate (ssh-keygen -s CA -h), offered first.
--authorized-keys: every user may log in with the keys of a FILE; a PATH with %u (the user name) is each user's
  own file, as sshd's AuthorizedKeysFile.
--authorized-keys-command is sshd's AuthorizedKeysCommand: a program (absolute path, owned by root or you, writable
  by no one else) run when no line of those matched; it prints authorized_keys lines for that user alone.
  Arguments may hold %u (user), %f (key fingerprint), %k (key, base64), %t (key type); none: the user name.
--trusted-user-ca-keys is sshd's TrustedUserCAKeys: certificates these CAs signed log in the users they name
  (authorized_keys' cert-authority lines trust a CA too); --authorized-principals-file is sshd's
  AuthorizedPrincipalsFile for them (%u: the user name): the certificate must list one of the file's
  principals instead, and that line's options apply; --revoked-keys is sshd's RevokedKeys (public keys,
  one per line, or a KRL from ssh-keygen -k). --authorized-principals-command is sshd's AuthorizedPrincipalsCommand:
  asked when the file (if any) lists none of the certificate's principals; tokens %u %F %f %i %K %k %s %T %t.
--max-startups is sshd's MaxStartups for connections not logged in yet (default 10:30:100).
--client-alive-interval and --client-alive-count-max are sshd's ClientAliveInterval (default 0: off) and
  ClientAliveCountMax (default 3): after that many unanswered keepalives the client is disconnected.
--allow-users and --deny-users are sshd's AllowUsers and DenyUsers: USER or USER@HOST patterns (* and ?; HOST the
  client's address, CIDR allowed); denied first, and if any are allowed, only those.
--max-auth-tries, --max-sessions and --login-grace-time are sshd's MaxAuthTries (default 6), MaxSessions
  (10 per connection) and LoginGraceTime (120 s after the key exchange; 0: no limit).`;

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  // `edgessh serve --help` and the like (not `-h`: keygen's -h makes a host certificate).
  if (rest.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  switch (cmd) {
    case 'serve':
      return (await import('./commands.ts')).serve(rest);
    case 'keygen':
      return (await import('./commands.ts')).keygen(rest);
    case 'proxy': {
      if (rest.length !== 1) fail('usage: edgessh proxy URL');
      const { proxy } = await import('./bridges.ts');
      process.exit(await proxy(rest[0]!, (line) => process.stderr.write(`edgessh proxy: ${line}\n`)));
    }
    case 'bridge':
    case 'websockify':
      return (await import('./bridge-command.ts')).runBridge(cmd, rest);
    case 'fingerprint': {
      if (!rest[0]) fail('fingerprint needs FILE');
      return (await import('./commands.ts')).fingerprints(rest[0]);
    }
    case '--version':
    case '-V':
      process.stdout.write(`edgessh ${EDGESSH_VERSION}\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      fail(`unknown command ${cmd}\n${USAGE}`);
  }
}

main().catch((e) => fail((e as Error).message));
