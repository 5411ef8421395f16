/** `edgessh bridge` and `edgessh websockify`: the long-running WebSocket bridges. */
import { parseArgs } from 'node:util';
import { bridge, parseHostPort, parseWsUrl, websockify } from './bridges.ts';
import { fail } from './util.ts';

export async function runBridge(cmd: 'bridge' | 'websockify', argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, to: { type: 'string' }, quiet: { type: 'boolean' } } });
  const log = values.quiet ? () => {} : (line: string) => process.stderr.write(`edgessh ${cmd}: ${line}\n`);
  if (!values.to) fail(`${cmd} needs --to ${cmd === 'bridge' ? 'URL' : 'HOST:PORT'}`);
  try {
    const listen = parseHostPort(values.listen ?? (cmd === 'bridge' ? '127.0.0.1:2222' : '127.0.0.1:8022'), '--listen');
    if (cmd === 'bridge') {
      const url = parseWsUrl(values.to);
      await bridge(listen, url, log);
      log(`listening on ${listen.host}:${listen.port}; each connection goes to ${url}`);
    } else {
      const target = parseHostPort(values.to, '--to');
      await websockify(listen, target, log);
      log(`listening on ws://${listen.host}:${listen.port}/; each WebSocket goes to ${target.host}:${target.port}`);
    }
  } catch (e) {
    fail((e as NodeJS.ErrnoException).code ? `cannot listen: ${(e as NodeJS.ErrnoException).code}` : (e as Error).message);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(0));
}

