// The web terminal: our SSH client in the page, xterm.js on screen, SSH over a WebSocket.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { SshClient, AuthFailedError, type ClientChannel } from '../../src/client/client.ts';
import { feedFromWebSocket, webSocketSink, type WebSocketLike } from '../../src/io/websocket.ts';
import { parsePrivateKey, parsePublicKeyLine, fingerprint } from '../../src/crypto/keys/index.ts';
import { certificateOf, hostCertificateRefusal } from '../../src/auth/certificate.ts';
import { SERVER_HOST_KEY_ALGORITHMS } from '../../src/crypto/registry.ts';
import type { PrivateKey, PublicKey } from '../../src/crypto/types.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const urlInput = $<HTMLInputElement>('url');
const userInput = $<HTMLInputElement>('user');
const passwordInput = $<HTMLInputElement>('password');
const keyInput = $<HTMLInputElement>('key');
const hostCaInput = $<HTMLInputElement>('hostca');
const hostnameInput = $<HTMLInputElement>('hostname');
const connectBtn = $<HTMLButtonElement>('connect');
const disconnectBtn = $<HTMLButtonElement>('disconnect');
const statusEl = $<HTMLSpanElement>('status');

const sameOrigin = new URL('/ssh', location.href);
sameOrigin.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const params = new URLSearchParams(location.search);
urlInput.value = params.get('url') ?? sameOrigin.toString();
userInput.value = params.get('user') ?? localStorage.getItem('edgessh.user') ?? '';
/** The host CA and name for a URL, kept like its TOFU key (per URL); query parameters win. */
function loadTrust(): void {
  const url = urlInput.value.trim();
  hostCaInput.value = params.get('hostca') ?? localStorage.getItem(`edgessh.hostca.${url}`) ?? '';
  hostnameInput.value = params.get('hostname') ?? localStorage.getItem(`edgessh.hostname.${url}`) ?? '';
  ($('trust') as HTMLDetailsElement).open = !!hostCaInput.value;
}
loadTrust();
urlInput.addEventListener('change', loadTrust);

const term = new Terminal({ cursorBlink: true, fontFamily: 'DejaVu Sans Mono, monospace', fontSize: 14, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('term'));
fit.fit();
term.writeln('edgessh web terminal: enter a user and a password or key, then Connect.');

function status(text: string, kind: 'ok' | 'error' | '' = ''): void {
  statusEl.textContent = text;
  statusEl.className = kind;
}

/** Trust on first use, per WebSocket URL, kept in localStorage (like ~/.ssh/known_hosts). */
function makeVerifier(url: string, onNew: (fp: string) => void) {
  return (key: PublicKey): boolean => {
    const fp = fingerprint(key);
    const known = localStorage.getItem(`edgessh.hostkey.${url}`);
    if (known && known !== fp) {
      status(`Host key changed for ${url}: expected ${known}, got ${fp}. Refusing to connect (clear the site data if the change is expected).`, 'error');
      return false;
    }
    if (!known) {
      localStorage.setItem(`edgessh.hostkey.${url}`, fp);
      onNew(fp);
    }
    return true;
  };
}

/**
 * With a trusted host CA (known_hosts' `@cert-authority`): a host certificate must pass ssh's checks for the
 * host name (the CA, the validity window, a listed principal); a host that shows a plain key falls back to
 * trust on first use, as ssh falls back to known_hosts.
 */
function makeCaVerifier(ca: PublicKey, hostname: string, tofu: (key: PublicKey) => boolean, onNote: (note: string) => void) {
  return (key: PublicKey): boolean => {
    const cert = certificateOf(key);
    if (!cert) {
      onNote(' The host showed no certificate;');
      return tofu(key);
    }
    const refused = hostCertificateRefusal(key, { hostname, trustedCas: [ca] });
    if (refused) {
      status(`Host certificate refused for ${hostname}: ${refused}. Refusing to connect.`, 'error');
      return false;
    }
    onNote(` Host certificate "${cert.keyId}" for ${hostname} signed by CA ${fingerprint(cert.caKey)}.`);
    return true;
  };
}

let current: { client: SshClient; ws: WebSocket; channel: ClientChannel | null } | null = null;
let inputHook: { dispose(): void } | null = null;
let resizeHook: { dispose(): void } | null = null;

async function readKey(): Promise<PrivateKey[]> {
  const f = keyInput.files?.[0];
  if (!f) return [];
  try {
    return await parsePrivateKey(await f.text());
  } catch (e) {
    throw new Error(`The key file could not be read: ${(e as Error).message}`);
  }
}

async function connect(): Promise<void> {
  disconnect();
  const url = urlInput.value.trim();
  const user = userInput.value.trim();
  if (!user) return status('Enter a user name.', 'error');
  localStorage.setItem('edgessh.user', user);
  let keys: PrivateKey[];
  try {
    keys = await readKey();
  } catch (e) {
    return status((e as Error).message, 'error');
  }
  let hostCa: PublicKey | null = null;
  const caText = hostCaInput.value.trim();
  if (caText) {
    try {
      hostCa = parsePublicKeyLine(caText).key;
    } catch (e) {
      return status(`The host CA is not a public key line: ${(e as Error).message}`, 'error');
    }
  }
  const hostname = hostnameInput.value.trim() || new URL(url, location.href).hostname;
  for (const [k, v] of [['hostca', caText], ['hostname', hostnameInput.value.trim()]] as const)
    if (v) localStorage.setItem(`edgessh.${k}.${url}`, v);
    else localStorage.removeItem(`edgessh.${k}.${url}`);
  status(`Connecting to ${url}…`);
  connectBtn.disabled = true;
  let ws: WebSocket;
  try {
    ws = new WebSocket(url);
  } catch {
    connectBtn.disabled = false;
    return status(`That is not a WebSocket URL: ${url}`, 'error');
  }
  ws.binaryType = 'arraybuffer';
  let opened = false;
  let hostKeyNote = '';
  const client = new SshClient(
    {
      username: user,
      password: passwordInput.value || undefined,
      privateKeys: keys,
      verifyHostKey: hostCa
        ? makeCaVerifier(hostCa, hostname, makeVerifier(url, (fp) => (hostKeyNote += ` New host key ${fp} trusted on first use.`)), (n) => (hostKeyNote += n))
        : makeVerifier(url, (fp) => (hostKeyNote = ` New host key ${fp} trusted on first use.`)),
      // Certificates are asked for only when a CA is trusted (else the server's plain keys, for TOFU).
      ...(hostCa ? { algorithms: { hostKey: [...SERVER_HOST_KEY_ALGORITHMS] } } : {}),
      onBanner: (text) => term.write(text.replace(/\r?\n/g, '\r\n')),
    },
    webSocketSink(ws as unknown as WebSocketLike),
  );
  current = { client, ws, channel: null };
  feedFromWebSocket(ws as unknown as WebSocketLike, () => client.transport);
  ws.addEventListener('open', () => {
    opened = true;
    client.start();
  });
  ws.addEventListener('close', (ev) => {
    connectBtn.disabled = false;
    disconnectBtn.disabled = true;
    if (!opened) status(`Could not open the WebSocket to ${url}${ev.reason ? `: ${ev.reason}` : ''}.`, 'error');
    else if (!statusEl.classList.contains('error')) status(`Disconnected${ev.reason ? `: ${ev.reason}` : ''}. Press Connect to reconnect.`);
  });
  try {
    await client.ready;
  } catch (e) {
    connectBtn.disabled = false;
    if (e instanceof AuthFailedError) return status(`Login refused for ${user}: wrong password or key (the server accepts: ${e.methodsLeft.join(', ') || 'nothing we offered'}).`, 'error');
    if (!statusEl.classList.contains('error')) status(`Connection failed: ${(e as Error).message}`, 'error');
    return;
  }
  disconnectBtn.disabled = false;
  status(`Connected to ${url} as ${user}.${hostKeyNote}`, 'ok');
  fit.fit();
  const channel = await client.shell({ pty: { term: 'xterm-256color', cols: term.cols, rows: term.rows } });
  current.channel = channel;
  term.reset();
  term.focus();
  const writer = channel.stdin.getWriter();
  const enc = new TextEncoder();
  inputHook = term.onData((d) => void writer.write(enc.encode(d)).catch(() => {}));
  resizeHook = term.onResize(({ cols, rows }) => channel.resize(cols, rows));
  const reader = channel.stdout.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    term.write(value);
  }
  const exit = await channel.exit;
  status(`The shell ended${exit.code !== null ? ` with status ${exit.code}` : exit.signal ? ` by signal ${exit.signal}` : ''}. Press Connect to start again.`);
  client.end();
}

function disconnect(): void {
  inputHook?.dispose();
  resizeHook?.dispose();
  inputHook = resizeHook = null;
  if (current) {
    current.client.end();
    current.ws.close(1000, 'disconnected');
    current = null;
  }
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  void connect();
});
disconnectBtn.addEventListener('click', () => {
  disconnect();
  status('Disconnected.');
});
window.addEventListener('resize', () => fit.fit());
// For tests and the curious: the terminal's text.
(window as unknown as { edgessh: unknown }).edgessh = {
  screen: () => {
    const b = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
  size: () => ({ cols: term.cols, rows: term.rows }),
};
