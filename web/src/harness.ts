// The loopback harness: an edgessh server and our client in one page over an in-memory pair, with a
// packet inspector. Runs one session or the whole algorithm matrix.
import { createServer } from '../../src/server.ts';
import { SshClient } from '../../src/client/client.ts';
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import { DEFAULT_ALGORITHMS } from '../../src/crypto/registry.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import type { PacketTrace, Transport } from '../../src/transport/transport.ts';
import { runExec } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { describeMessage } from '../../src/wire/describe.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const HOST_KEY_TYPES: Record<string, Parameters<typeof generatePrivateKey>[0]> = {
  'ssh-ed25519': 'ed25519',
  'ecdsa-sha2-nistp256': 'ecdsa-p256',
  'ecdsa-sha2-nistp384': 'ecdsa-p384',
  'ecdsa-sha2-nistp521': 'ecdsa-p521',
  'rsa-sha2-512': 'rsa',
  'rsa-sha2-256': 'rsa',
};
const MACS_FOR_AEAD = '(implicit: AEAD)';

function fill(id: string, values: readonly string[], extra: string[] = []): void {
  const sel = $<HTMLSelectElement>(id);
  for (const v of [...extra, ...values]) sel.add(new Option(v, v));
}
fill('kex', DEFAULT_ALGORITHMS.kex);
fill('hostKey', Object.keys(HOST_KEY_TYPES));
fill('cipher', DEFAULT_ALGORITHMS.cipher);
fill('mac', DEFAULT_ALGORITHMS.mac);

const keyCache = new Map<string, Promise<PrivateKey>>();
function hostKey(alg: string): Promise<PrivateKey> {
  const type = HOST_KEY_TYPES[alg]!;
  if (!keyCache.has(type)) keyCache.set(type, generatePrivateKey(type, type === 'rsa' ? 2048 : undefined, 'harness'));
  return keyCache.get(type)!;
}

interface Row {
  dir: 'c2s' | 's2c';
  trace: PacketTrace;
}

interface Combo {
  kex: string;
  hostKey: string;
  cipher: string;
  mac: string;
}

/** One session: connect, log in with a password, run `echo hi`, close. Resolves with timing and packets. */
async function runSession(c: Combo): Promise<{ ok: boolean; handshakeMs: number; rows: Row[]; error?: string; output?: string }> {
  const rows: Row[] = [];
  const key = await hostKey(c.hostKey);
  const storage = new MemoryStorage();
  const server = createServer({
    hostKeys: [key],
    algorithms: { kex: [c.kex], hostKey: [c.hostKey], cipher: [c.cipher], ...(c.mac !== MACS_FOR_AEAD ? { mac: [c.mac] } : {}) },
    authenticate: (req) => req.method === 'password' && req.password === 'harness',
    onSession: (s) =>
      runExec(s.command ?? '', { user: s.user, env: s.env, pty: null, storage, startedAt: Date.now(), stdin: s.stdin, stdout: s.stdout, stderr: s.stderr }),
  });
  let serverT!: Transport;
  const t0 = performance.now();
  let handshakeMs = 0;
  const client = new SshClient(
    {
      username: 'learner',
      password: 'harness',
      verifyHostKey: () => true,
      algorithms: { kex: [c.kex], hostKey: [c.hostKey], cipher: [c.cipher], ...(c.mac !== MACS_FOR_AEAD ? { mac: [c.mac] } : {}) },
      onPacket: (t) => t.direction === 'in' && rows.push({ dir: 's2c', trace: t }),
      onEvent: (e) => {
        if (e.type === 'kex-done' && e.count === 1) handshakeMs = performance.now() - t0;
      },
    },
    { write: (b) => queueMicrotask(() => serverT.receive(b)), end: () => queueMicrotask(() => serverT.connectionLost()) },
  );
  serverT = server.accept(
    { write: (b) => queueMicrotask(() => client.transport.receive(b)), end: () => queueMicrotask(() => client.transport.connectionLost()) },
    { peerAddress: 'the same page', onPacket: (t) => t.direction === 'in' && rows.push({ dir: 'c2s', trace: t }) },
  );
  client.start();
  try {
    await client.ready;
    const r = await client.run('echo hi');
    const output = new TextDecoder().decode(r.stdout);
    client.end();
    await client.closed;
    return { ok: output === 'hi\n' && r.code === 0, handshakeMs, rows, output };
  } catch (e) {
    return { ok: false, handshakeMs, rows, error: (e as Error).message };
  }
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

function showPackets(rows: Row[]): void {
  const table = $<HTMLTableElement>('packets');
  const body = table.tBodies[0]!;
  body.replaceChildren();
  rows.forEach((row, i) => {
    const d = describeMessage(row.trace.payload);
    const tr = body.insertRow();
    tr.className = `pkt ${row.dir}`;
    for (const v of [String(i + 1), row.dir === 'c2s' ? 'client → server' : 'server → client', String(row.trace.seq), d.name, `${row.trace.payload.length} / ${row.trace.wire?.length ?? '?'}`, d.fields.map(([k, v]) => `${k}: ${v}`).join('\n')])
      tr.insertCell().textContent = v;
    tr.cells[5]!.style.whiteSpace = 'pre-wrap';
    tr.addEventListener('click', () => {
      const next = tr.nextElementSibling as HTMLTableRowElement | null;
      if (next?.classList.contains('raw-row')) return next.remove();
      const raw = document.createElement('tr');
      raw.className = 'raw-row';
      const cell = raw.insertCell();
      cell.colSpan = 6;
      const pre = document.createElement('pre');
      pre.className = 'raw';
      pre.textContent = `payload (plaintext, ${row.trace.payload.length} bytes):\n${hex(row.trace.payload)}\n\nwire (as sent: length, padding, MAC or tag; encrypted after NEWKEYS — ${row.trace.wire?.length ?? 0} bytes):\n${hex(row.trace.wire ?? new Uint8Array())}`;
      cell.append(pre);
      tr.after(raw);
    });
  });
  table.hidden = false;
}

function current(): Combo {
  return { kex: $<HTMLSelectElement>('kex').value, hostKey: $<HTMLSelectElement>('hostKey').value, cipher: $<HTMLSelectElement>('cipher').value, mac: $<HTMLSelectElement>('mac').value };
}

/** Every algorithm at least once: each kex, each host key, each cipher, each MAC (with aes128-ctr). */
export function matrix(): Combo[] {
  const base = { kex: 'curve25519-sha256', hostKey: 'ssh-ed25519', cipher: 'chacha20-poly1305@openssh.com', mac: MACS_FOR_AEAD };
  return [
    ...DEFAULT_ALGORITHMS.kex.map((kex) => ({ ...base, kex })),
    ...Object.keys(HOST_KEY_TYPES).filter((h) => h !== 'ssh-ed25519').map((hostKey) => ({ ...base, hostKey })),
    ...DEFAULT_ALGORITHMS.cipher.filter((c) => c !== base.cipher).map((cipher) => ({ ...base, cipher, mac: cipher.endsWith('-ctr') ? DEFAULT_ALGORITHMS.mac[0]! : MACS_FOR_AEAD })),
    ...DEFAULT_ALGORITHMS.mac.map((mac) => ({ ...base, cipher: 'aes128-ctr', mac })),
  ];
}

const state = { running: false, done: 0, passed: 0, failed: 0, total: 0 };
(window as unknown as { harness: typeof state }).harness = state;

$('runOne').addEventListener('click', async () => {
  const c = current();
  const summary = $('summary');
  summary.textContent = 'Running…';
  const r = await runSession(c);
  summary.innerHTML = '';
  const span = document.createElement('span');
  span.className = r.ok ? 'pass' : 'fail';
  span.textContent = r.ok ? 'PASS' : `FAIL: ${r.error ?? JSON.stringify(r.output)}`;
  summary.append(span, ` — handshake ${r.handshakeMs.toFixed(1)} ms, ${r.rows.length} messages`);
  showPackets(r.rows);
});

$('runMatrix').addEventListener('click', async () => {
  if (state.running) return;
  const combos = matrix();
  Object.assign(state, { running: true, done: 0, passed: 0, failed: 0, total: combos.length });
  const table = $<HTMLTableElement>('matrix');
  const body = table.tBodies[0]!;
  body.replaceChildren();
  table.hidden = false;
  for (const c of combos) {
    const tr = body.insertRow();
    for (const v of [c.kex, c.hostKey, c.cipher, c.mac]) tr.insertCell().textContent = v;
    const res = tr.insertCell();
    const ms = tr.insertCell();
    res.textContent = '…';
    const r = await runSession(c);
    res.textContent = r.ok ? 'pass' : `fail: ${r.error ?? ''}`;
    res.className = r.ok ? 'pass' : 'fail';
    ms.textContent = r.handshakeMs.toFixed(1);
    state.done++;
    if (r.ok) state.passed++;
    else state.failed++;
    $('summary').textContent = `${state.passed} of ${state.total} passed${state.failed ? `, ${state.failed} failed` : ''}`;
  }
  state.running = false;
});

/** For `npm run bench`: handshake time (median of 5) and upload throughput per cipher, all in this tab. */
async function benchLoopback(mib = 16): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  const data = new Uint8Array(mib << 20);
  for (const [cipher, mac] of [
    ['chacha20-poly1305@openssh.com', MACS_FOR_AEAD],
    ['aes128-gcm@openssh.com', MACS_FOR_AEAD],
    ['aes256-gcm@openssh.com', MACS_FOR_AEAD],
    ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
  ] as const) {
    const combo = { kex: 'curve25519-sha256', hostKey: 'ssh-ed25519', cipher, mac };
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await runSession(combo);
      if (i) times.push(r.handshakeMs);
    }
    times.sort((a, b) => a - b);
    // Throughput: one session, `cat > /dev/null` fed mib MiB.
    const key = await hostKey('ssh-ed25519');
    const server = createServer({
      hostKeys: [key],
      algorithms: { cipher: [cipher] },
      authenticate: () => true,
      onSession: (s) => runExec(s.command ?? '', { user: s.user, env: s.env, pty: null, storage: new MemoryStorage(), startedAt: 0, stdin: s.stdin, stdout: s.stdout, stderr: s.stderr }),
    });
    let serverT!: Transport;
    const client = new SshClient(
      { username: 'bench', password: 'x', verifyHostKey: () => true, algorithms: { cipher: [cipher], ...(mac !== MACS_FOR_AEAD ? { mac: [mac] } : {}) } },
      { write: (b) => queueMicrotask(() => serverT.receive(b)), end: () => queueMicrotask(() => serverT.connectionLost()) },
    );
    serverT = server.accept({ write: (b) => queueMicrotask(() => client.transport.receive(b)), end: () => queueMicrotask(() => client.transport.connectionLost()) });
    client.start();
    await client.ready;
    const t0 = performance.now();
    const r = await client.run('cat > /dev/null', data);
    const secs = (performance.now() - t0) / 1000;
    client.end();
    rows.push({
      cipher: mac === MACS_FOR_AEAD ? cipher : `${cipher} + ${mac}`,
      'handshake ms (median of 5, both sides in one tab)': times[2]!.toFixed(1),
      [`${mib} MiB upload MiB/s (both sides in one tab)`]: r.code === 0 ? (mib / secs).toFixed(1) : 'failed',
    });
  }
  return rows;
}
(window as unknown as { benchLoopback: typeof benchLoopback }).benchLoopback = benchLoopback;
