// Conformance of the transport state machine (RFC 4253 and OpenSSH PROTOCOL), driven directly.
import { describe, expect, it, vi } from 'vitest';
import { ByteQueue } from '../../src/transport/bytequeue.ts';
import { DISCONNECT, MSG } from '../../src/wire/messages.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { DEFAULT_ALGORITHMS, LEGACY_ALGORITHMS } from '../../src/crypto/registry.ts';
import {
  enc,
  handshake,
  kexinitPayload,
  pair,
  plainPacket,
  plainPackets,
  rawServer,
  testKey,
  until,
} from '../helpers/transport.ts';
import { MSG_PING } from '../../src/transport/transport.ts';

function disconnectOf(bytes: Uint8Array): { reason: number; message: string } | null {
  for (const p of plainPackets(bytes)) {
    if (p[0] === MSG.DISCONNECT) {
      const r = new Reader(p, 1);
      return { reason: r.uint32(), message: r.string() };
    }
  }
  return null;
}

describe('identification exchange (RFC 4253 §4.2)', () => {
  it('sends SSH-2.0-edgessh_<version> CR LF first', async () => {
    const { sent } = await rawServer();
    const text = new TextDecoder().decode(sent());
    expect(text).toMatch(/^SSH-2\.0-edgessh_\d+\.\d+\.\d+\r\n/);
  });

  for (const [name, line] of [
    ['CR LF', 'SSH-2.0-OpenSSH_9.2\r\n'],
    ['bare LF', 'SSH-2.0-OpenSSH_9.2\n'],
    ['1.99', 'SSH-1.99-Legacy_1.0\r\n'],
    ['comments', 'SSH-2.0-Client_1.0 some comment\r\n'],
  ] as const) {
    it(`accepts a client line with ${name}, hashed without the line ending`, async () => {
      const { server, rec } = await rawServer();
      server.receive(enc(line));
      await server.idle();
      expect(rec.closed).toBeNull();
      expect(server.peerVersion!.text).toBe(line.replace(/\r?\n$/, ''));
      expect(new TextDecoder().decode(server.peerVersion!.raw)).toBe(line.replace(/\r?\n$/, ''));
    });
  }

  it('refuses protocol 1.5 with PROTOCOL_VERSION_NOT_SUPPORTED', async () => {
    const { server, rec, sent } = await rawServer();
    server.receive(enc('SSH-1.5-Old\r\n'));
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED);
    expect(disconnectOf(sent())?.reason).toBe(DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED);
  });

  it('refuses a non-SSH first line with PROTOCOL_VERSION_NOT_SUPPORTED', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('GET / HTTP/1.1\r\n'));
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED);
  });

  it('bounds the identification line at 255 bytes', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-' + 'x'.repeat(300)));
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
    expect(rec.closed?.message).toMatch(/255/);
  });

  it('a client bounds the lines before the version', async () => {
    const { Transport } = await import('../../src/transport/transport.ts');
    let closed: number | null = null;
    const t = new Transport({ role: 'client', onSend: () => {}, onClose: (c) => (closed = c.reason) });
    t.start();
    t.receive(enc('hello\r\n'.repeat(2000)));
    await t.idle();
    expect(closed).toBe(DISCONNECT.PROTOCOL_ERROR);
  });
});

describe('binary packet protocol (RFC 4253 §6)', () => {
  it('refuses an oversized packet before buffering it', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 1024 * 1024);
    server.receive(head);
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
    expect(rec.closed?.message).toMatch(/exceeds the limit of 262144/);
  });

  it('honours a configured maximum packet size', async () => {
    const { server, rec } = await rawServer({ maxPacketSize: 4096 });
    server.receive(enc('SSH-2.0-test\r\n'));
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 8192 - 4);
    server.receive(head);
    await server.idle();
    expect(rec.closed?.message).toMatch(/exceeds the limit of 4096/);
  });

  it('refuses a packet length that is not block-aligned', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    const pkt = new Uint8Array(4 + 13);
    new DataView(pkt.buffer).setUint32(0, 13);
    pkt[4] = 4;
    server.receive(pkt);
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
    expect(rec.closed?.message).toMatch(/block size/);
  });

  it('refuses an invalid padding length', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    const pkt = new Uint8Array(16);
    new DataView(pkt.buffer).setUint32(0, 12);
    pkt[4] = 2; // < 4
    server.receive(pkt);
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
    expect(rec.closed?.message).toMatch(/padding/);
  });

  it('accepts input split into single bytes and packets coalesced', async () => {
    const { server, rec } = await rawServer();
    const bytes = new Uint8Array([...enc('SSH-2.0-test\r\n'), ...plainPacket(kexinitPayload())]);
    for (const b of bytes) server.receive(new Uint8Array([b]));
    await server.idle();
    expect(rec.closed).toBeNull();
    expect(server.inKex).toBe(true);
  });

  it('a bad MAC after encryption ends the connection with MAC_ERROR', async () => {
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes128-ctr']) {
      const p = await handshake({ algorithms: { cipher: [cipher] } });
      expect(p.client.isEncrypted()).toBe(true);
      // Corrupt the next packet on the wire by wrapping the client's output. A packet may arrive in pieces
      // (GCM and CTR send the clear length, the ciphertext and the MAC as they come); each piece past the
      // length is changed in its last byte, which is ciphertext, tag or MAC.
      const payload = new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(40)).finish();
      const orig = p.server.receive.bind(p.server);
      p.server.receive = (b: Uint8Array) => {
        const c = b.slice();
        if (c.length >= 16) c[c.length - 1]! ^= 1;
        orig(c);
      };
      p.client.send(payload);
      await until(() => !!p.s.closed);
      expect(p.s.closed!.reason).toBe(DISCONNECT.MAC_ERROR);
    }
  });

  it('a packet tracer sees the wire bytes as they arrived, though the cipher may open them in place', async () => {
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes128-ctr']) {
      const traced: Uint8Array[] = [];
      const p = await handshake({ algorithms: { cipher: [cipher] } }, { onPacket: (t) => t.direction === 'in' && t.payload[0] === MSG.IGNORE && traced.push(t.wire!) });
      const sent: Uint8Array[] = [];
      const orig = p.server.receive.bind(p.server);
      p.server.receive = (b: Uint8Array) => {
        sent.push(b.slice());
        orig(b);
      };
      p.client.send(new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(100).fill(0x41)).finish());
      await until(() => traced.length === 1);
      expect(traced[0]).toEqual(new Uint8Array(Buffer.concat(sent))); // the packet's pieces, as sent
      expect(Buffer.from(traced[0]!).includes(Buffer.alloc(16, 0x41))).toBe(false); // ciphertext, not the plaintext
      p.client.disconnect(11, 'bye');
    }
  });
});

describe('KEXINIT negotiation (RFC 4253 §7.1)', () => {
  it("the client's preference wins", async () => {
    const p = await handshake(
      { algorithms: { cipher: ['aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com'], kex: ['ecdh-sha2-nistp384', 'curve25519-sha256'] } },
      { algorithms: { cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com'] } },
    );
    expect(p.server.negotiated!.cipherC2S).toBe('aes256-gcm@openssh.com');
    expect(p.server.negotiated!.kex).toBe('ecdh-sha2-nistp384');
    expect(p.server.negotiated!.macC2S).toBeNull(); // AEAD: MAC ignored
  });

  for (const [what, client, words] of [
    ['cipher', { cipher: ['aes192-ctr'] }, /no matching cipher \(client to server\)/],
    ['MAC', { mac: ['hmac-sha1'] }, /no matching MAC/],
    ['kex', { kex: ['diffie-hellman-group1-sha1'] }, /no matching key exchange method/],
    ['host key', { hostKey: ['ssh-rsa'] }, /no matching host key algorithm/],
  ] as const) {
    it(`no common ${what} → KEY_EXCHANGE_FAILED naming it`, async () => {
      const p = await pair(
        { algorithms: { ...(client as unknown as Record<string, string[]>) } },
        { algorithms: what === 'cipher' ? { cipher: ['aes128-ctr'] } : what === 'MAC' ? { cipher: ['aes128-ctr'] } : {} },
      );
      await until(() => !!p.s.closed);
      expect(p.s.closed!.reason).toBe(DISCONNECT.KEY_EXCHANGE_FAILED);
      expect(p.s.closed!.message).toMatch(words);
    });
  }

  it('offers only host key algorithms the loaded keys can sign', async () => {
    const { sent } = await rawServer();
    const kexinit = plainPackets(sent()).find((p) => p[0] === MSG.KEXINIT)!;
    const r = new Reader(kexinit, 17);
    const kex = r.nameList();
    const hostKey = r.nameList();
    expect(hostKey).toEqual(['ssh-ed25519']);
    expect(kex).toContain('kex-strict-s-v00@openssh.com');
    for (const legacy of LEGACY_ALGORITHMS.kex) expect(kex).not.toContain(legacy);
  });

  it('a wrong guess (first_kex_packet_follows) drops the next kex packet', async () => {
    const { server, rec, sent } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    // Client's first kex differs from the server's first → the guess is wrong.
    server.receive(plainPacket(kexinitPayload({ kex: ['curve25519-sha256', 'ecdh-sha2-nistp256'], follows: true })));
    server.receive(plainPacket(new Writer().byte(30).bytes(new Uint8Array(65)).finish())); // the bogus guess
    const { x25519 } = await import('@noble/curves/ed25519.js');
    const pub = x25519.getPublicKey(x25519.utils.randomSecretKey());
    server.receive(plainPacket(new Writer().byte(30).bytes(pub).finish()));
    await server.idle();
    expect(rec.closed).toBeNull();
    expect(plainPackets(sent()).some((p) => p[0] === MSG.KEXDH_REPLY)).toBe(true);
  });

  it('a right guess is used', async () => {
    const { server, rec, sent } = await rawServer({ algorithms: { kex: ['curve25519-sha256'] } });
    server.receive(enc('SSH-2.0-test\r\n'));
    server.receive(plainPacket(kexinitPayload({ kex: ['curve25519-sha256'], follows: true })));
    const { x25519 } = await import('@noble/curves/ed25519.js');
    const pub = x25519.getPublicKey(x25519.utils.randomSecretKey());
    server.receive(plainPacket(new Writer().byte(30).bytes(pub).finish()));
    await server.idle();
    expect(rec.closed).toBeNull();
    expect(plainPackets(sent()).filter((p) => p[0] === MSG.KEXDH_REPLY)).toHaveLength(1);
  });
});

describe('key exchange × host key × cipher × MAC (loopback)', () => {
  const kexes = [...DEFAULT_ALGORITHMS.kex, ...LEGACY_ALGORITHMS.kex];
  for (const kex of kexes) {
    it(`kex ${kex}`, async () => {
      const p = await handshake(
        { algorithms: { kex: [kex] } },
        { algorithms: { kex: [kex] } },
      );
      expect(p.s.closed).toBeNull();
      expect(p.server.negotiated!.kex).toBe(kex);
      expect(p.server.sessionId).toEqual(p.client.sessionId);
    });
  }

  const hostKeys = [
    ['ssh-ed25519', 'ed25519'],
    ['ecdsa-sha2-nistp256', 'ecdsa-p256'],
    ['ecdsa-sha2-nistp384', 'ecdsa-p384'],
    ['ecdsa-sha2-nistp521', 'ecdsa-p521'],
    ['rsa-sha2-512', 'rsa'],
    ['rsa-sha2-256', 'rsa'],
  ] as const;
  for (const [alg, type] of hostKeys) {
    it(`host key ${alg}`, async () => {
      const key = await testKey(type);
      const p = await handshake({ algorithms: { hostKey: [alg] } }, {}, [key]);
      expect(p.s.closed).toBeNull();
      expect(p.client.negotiated!.hostKey).toBe(alg);
    });
  }

  it('ssh-rsa (sha1) is off unless configured', async () => {
    const key = await testKey('rsa');
    const off = await pair({ algorithms: { hostKey: ['ssh-rsa'] } }, {}, [key]);
    await until(() => !!off.s.closed);
    expect(off.s.closed!.reason).toBe(DISCONNECT.KEY_EXCHANGE_FAILED);
    const on = await handshake({ algorithms: { hostKey: ['ssh-rsa'] } }, { algorithms: { hostKey: ['ssh-rsa'] } }, [key]);
    expect(on.client.negotiated!.hostKey).toBe('ssh-rsa');
  });

  const ciphers = DEFAULT_ALGORITHMS.cipher;
  const macs = [...DEFAULT_ALGORITHMS.mac, ...LEGACY_ALGORITHMS.mac];
  for (const cipher of ciphers) {
    for (const mac of cipher.includes('ctr') ? macs : [macs[0]!]) {
      it(`${cipher} + ${mac}: data flows both ways`, async () => {
        const algs = { cipher: [cipher], mac: [mac] };
        const p = await handshake({ algorithms: algs }, { algorithms: { ...DEFAULT_ALGORITHMS, mac: macs } });
        expect(p.server.negotiated!.cipherS2C).toBe(cipher);
        const got: number[] = [];
        p.s.events.length = 0;
        for (let i = 0; i < 20; i++) p.client.sendIgnore(new Uint8Array(i * 997));
        p.client.sendDebug('hello');
        await until(() => p.s.events.some((e) => e.type === 'debug'));
        for (const e of p.s.events) if (e.type === 'ignore') got.push(e.data.length);
        expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i * 997));
        expect(p.s.closed).toBeNull();
      });
    }
  }

  it('zlib@openssh.com compression starts after authentication', async () => {
    const p = await handshake({ algorithms: { compression: ['zlib@openssh.com'] } });
    expect(p.server.negotiated!.compressionC2S).toBe('zlib@openssh.com');
    p.server.setAuthenticated();
    p.client.setAuthenticated();
    p.s.events.length = 0;
    p.client.sendIgnore(new Uint8Array(100_000));
    p.client.sendDebug('compressed');
    await until(() => p.s.events.some((e) => e.type === 'debug'));
    expect(p.s.events.find((e) => e.type === 'ignore')).toMatchObject({ data: new Uint8Array(100_000) });
  });
});

describe('strict kex (OpenSSH PROTOCOL §1.10)', () => {
  it('is negotiated with a client that offers it, and sequence numbers reset after NEWKEYS', async () => {
    const p = await handshake();
    expect(p.server.strictKex).toBe(true);
    // After the first NEWKEYS both counters restarted at 0; the server has sent EXT_INFO since.
    expect(p.server.counters.seqIn).toBeLessThan(3);
  });

  it('a message before KEXINIT is fatal under strict kex', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    server.receive(plainPacket(new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(4)).finish()));
    server.receive(plainPacket(kexinitPayload({ kex: ['curve25519-sha256', 'kex-strict-c-v00@openssh.com'] })));
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
    expect(rec.closed?.message).toMatch(/strict KEX/);
  });

  it('IGNORE during the initial kex is fatal under strict kex (Terrapin)', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    server.receive(plainPacket(kexinitPayload({ kex: ['curve25519-sha256', 'kex-strict-c-v00@openssh.com'] })));
    server.receive(plainPacket(new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(4)).finish()));
    await server.idle();
    expect(rec.closed?.message).toMatch(/strict KEX violation/);
  });

  it('without strict kex, IGNORE during kex is fine', async () => {
    const { server, rec } = await rawServer();
    server.receive(enc('SSH-2.0-test\r\n'));
    server.receive(plainPacket(kexinitPayload()));
    server.receive(plainPacket(new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(4)).finish()));
    await server.idle();
    expect(rec.closed).toBeNull();
    expect(server.strictKex).toBe(false);
  });
});

describe('EXT_INFO and ping', () => {
  it('sends server-sig-algs and ping@openssh.com after the first NEWKEYS', async () => {
    const p = await handshake();
    await until(() => p.c.events.some((e) => e.type === 'ext-info'));
    const sigs = new TextDecoder().decode(p.client.peerExtensions.get('server-sig-algs'));
    expect(sigs.split(',')).toContain('ssh-ed25519');
    expect(sigs.split(',')).toContain('rsa-sha2-512');
    expect(p.client.peerExtensions.has('ping@openssh.com')).toBe(true);
  });

  const name = (t: number) => (t === MSG.NEWKEYS ? 'NEWKEYS' : t === MSG.EXT_INFO ? 'EXT_INFO' : t === MSG.DEBUG ? 'DEBUG' : String(t));

  it("leaves as the next packet after the server's NEWKEYS, once the client's NEWKEYS is in (no Nagle stall)", async () => {
    // The server's packets in order, and where the client's NEWKEYS came in among them.
    const order: string[] = [];
    const p = await handshake({}, { onPacket: (t) => order.push(`${t.direction} ${name(t.payload[0]!)}`) });
    await until(() => p.c.events.some((e) => e.type === 'ext-info'));
    const at = (x: string) => order.indexOf(x);
    expect(at('in NEWKEYS')).toBeGreaterThan(at('out NEWKEYS'));
    expect(at('out EXT_INFO')).toBeGreaterThan(at('in NEWKEYS'));
    expect(order.slice(at('out NEWKEYS') + 1).filter((o) => o.startsWith('out'))[0]).toBe('out EXT_INFO');
  });

  it('still comes first when the server sends something before the client’s NEWKEYS is in', async () => {
    const out: string[] = [];
    const p = await pair({}, {
      onPacket: (t) => {
        if (t.direction !== 'out') return;
        out.push(name(t.payload[0]!));
        // Just after our NEWKEYS has gone out: long before the client can have answered it.
        if (t.payload[0] === MSG.NEWKEYS) queueMicrotask(() => p.server.sendDebug('right after NEWKEYS'));
      },
    });
    await until(() => p.c.events.some((e) => e.type === 'ext-info') && p.client.kexCount > 0);
    expect(out.slice(out.indexOf('NEWKEYS') + 1, out.indexOf('NEWKEYS') + 3)).toEqual(['EXT_INFO', 'DEBUG']);
    expect(p.c.closed).toBeNull();
  });

  it('answers PING with PONG', async () => {
    const p = await handshake();
    p.client.sendPing(enc('are you there'));
    await until(() => p.c.events.some((e) => e.type === 'pong'));
    const pong = p.c.events.find((e) => e.type === 'pong');
    expect(pong).toMatchObject({ data: enc('are you there') });
    expect(MSG_PING).toBe(192);
  });
});

describe('rekey', () => {
  it('the client may start one at any time; messages sent meanwhile arrive after it', async () => {
    const p = await handshake();
    p.client.rekey();
    p.client.sendDebug('during rekey');
    await until(() => p.server.kexCount === 2 && p.s.events.some((e) => e.type === 'debug'));
    expect(p.s.closed).toBeNull();
    expect(p.client.sessionId).toEqual(p.server.sessionId);
  });

  it('the server starts one after the configured volume', async () => {
    const p = await handshake({}, { rekey: { bytes: 64 * 1024 } });
    for (let i = 0; i < 10; i++) p.client.sendIgnore(new Uint8Array(16 * 1024));
    p.client.sendDebug('after');
    await until(() => p.server.kexCount >= 2 && p.s.events.some((e) => e.type === 'debug'));
    expect(p.s.events.filter((e) => e.type === 'ignore')).toHaveLength(10);
  });

  it('the server starts one after the configured time', async () => {
    let now = 1_000_000;
    const p = await handshake({}, { now: () => now, rekey: { seconds: 60 } });
    expect(p.server.nextDeadline()).toBe(1_000_000 + 60_000);
    now += 61_000;
    p.server.tick();
    await until(() => p.server.kexCount === 2);
    expect(p.s.closed).toBeNull();
  });

  it('rekeys repeatedly in both roles with every cipher', async () => {
    for (const cipher of DEFAULT_ALGORITHMS.cipher) {
      const p = await handshake({ algorithms: { cipher: [cipher] } });
      for (let i = 0; i < 3; i++) {
        i % 2 ? p.server.rekey() : p.client.rekey();
        p.client.sendIgnore(new Uint8Array(1000));
        p.server.sendIgnore(new Uint8Array(1000));
        await until(() => p.server.kexCount === i + 2 && p.client.kexCount === i + 2);
      }
      expect(p.s.closed ?? p.c.closed).toBeNull();
    }
  });

  it('packets opened ahead of their turn (AES-GCM, encrypt-then-MAC) are framed and opened again under new keys after NEWKEYS', async () => {
    const putBack = vi.spyOn(ByteQueue.prototype, 'unshift');
    try {
      for (const algorithms of [{ cipher: ['aes128-gcm@openssh.com'] }, { cipher: ['aes256-ctr'], mac: ['hmac-sha2-512-etm@openssh.com'] }]) {
        const p = await handshake({ algorithms });
        // Bytes reach the server coalesced, as TCP delivers them: NEWKEYS and the packets sealed under the
        // new keys after it arrive in one chunk (all the client wrote within 20 ms).
        const receive = p.server.receive.bind(p.server);
        let pending: Uint8Array[] = [];
        p.server.receive = (b: Uint8Array) => {
          if (!pending.length)
            setTimeout(() => {
              const all = new Uint8Array(pending.reduce((n, x) => n + x.length, 0));
              let o = 0;
              for (const x of pending) (all.set(x, o), (o += x.length));
              pending = [];
              receive(all);
            }, 20);
          pending.push(b);
        };
        const ignored = () => p.s.events.filter((e) => e.type === 'ignore') as { data: Uint8Array }[];
        // The client keeps sending throughout each rekey, so packets under the old and the new keys share chunks.
        let sent = 0;
        const send = () => p.client.sendIgnore(new Uint8Array(3000).fill(sent++ & 0xff));
        for (let r = 0; r < 3; r++) {
          const timer = setInterval(() => (send(), send(), send()), 1);
          p.client.rekey();
          await until(() => p.server.kexCount === r + 2 || !!p.s.closed);
          await new Promise((res) => setTimeout(res, 30));
          clearInterval(timer);
        }
        await until(() => ignored().length === sent || !!p.s.closed);
        expect(p.s.closed).toBeNull();
        expect(ignored().map((e) => e.data[0])).toEqual(Array.from({ length: sent }, (_, i) => i & 0xff));
      }
      expect(putBack).toHaveBeenCalled();
    } finally {
      putBack.mockRestore();
    }
  });

  it('a bad tag on a packet opened ahead is reported in its turn, after the packets before it', async () => {
    const p = await handshake({ algorithms: { cipher: ['aes128-gcm@openssh.com'] } });
    const receive = p.server.receive.bind(p.server);
    let n = 0;
    p.server.receive = (b: Uint8Array) => {
      // Each packet arrives as its clear length (4 bytes), then its ciphertext and tag: spoil the fifth tag.
      if (b.length > 4 && ++n === 5) (b = b.slice())[b.length - 1]! ^= 1;
      receive(b);
    };
    for (let i = 0; i < 10; i++) p.client.sendIgnore(new Uint8Array(2000).fill(i));
    await until(() => !!p.s.closed);
    expect(p.s.closed?.reason).toBe(DISCONNECT.MAC_ERROR);
    expect(p.s.events.filter((e) => e.type === 'ignore').map((e) => (e as { data: Uint8Array }).data[0])).toEqual([0, 1, 2, 3]);
  });

  it('a key exchange that does not finish in time ends the connection', async () => {
    let now = 0;
    const { server, rec } = await rawServer({ now: () => now, kexTimeoutMs: 30_000 });
    server.receive(enc('SSH-2.0-test\r\n'));
    now = 31_000;
    server.tick();
    await server.idle();
    expect(rec.closed?.reason).toBe(DISCONNECT.KEY_EXCHANGE_FAILED);
    expect(rec.closed?.message).toMatch(/did not finish within 30 s/);
  });
});

describe('generic messages and services', () => {
  it('answers an unknown message with UNIMPLEMENTED carrying its sequence number', async () => {
    const p = await handshake();
    const seq = p.client.counters.seqOut;
    p.client.send(new Uint8Array([150, 1, 2, 3]));
    await until(() => p.c.events.some((e) => e.type === 'unimplemented'));
    expect(p.c.events.find((e) => e.type === 'unimplemented')).toEqual({ type: 'unimplemented', seq });
  });

  it('delivers IGNORE and DEBUG both ways', async () => {
    const p = await handshake();
    p.server.sendDebug('from server', true);
    p.server.sendIgnore(enc('pad'));
    await until(() => p.c.events.some((e) => e.type === 'ignore'));
    expect(p.c.events.find((e) => e.type === 'debug')).toMatchObject({ message: 'from server', alwaysDisplay: true });
  });

  it('an unknown service gets SERVICE_NOT_AVAILABLE', async () => {
    const p = await handshake();
    p.client.send(new Writer().byte(MSG.SERVICE_REQUEST).string('ssh-bogus').finish());
    await until(() => !!p.s.closed);
    expect(p.s.closed!.reason).toBe(DISCONNECT.SERVICE_NOT_AVAILABLE);
    expect(p.c.closed!.message).toMatch(/ssh-bogus/);
  });

  it('dispatches SERVICE_REQUEST to a registered service', async () => {
    const got: number[] = [];
    const p = await handshake({}, { services: { 'ssh-userauth': () => ({ handle: (t) => (got.push(t), true) }) } });
    const ok = await p.client.requestService('ssh-userauth', { handle: () => true });
    expect(ok).toBe(true);
    p.client.send(new Uint8Array([50, 0, 0, 0, 0]));
    await until(() => got.length > 0);
    expect(got).toEqual([50]);
  });

  it('a DISCONNECT from the peer closes with its reason and text', async () => {
    const p = await handshake();
    p.client.disconnect(DISCONNECT.BY_APPLICATION, 'bye');
    await until(() => !!p.s.closed);
    expect(p.s.closed).toMatchObject({ reason: 11, message: 'bye', by: 'peer' });
  });

  it('exposes what Conch exposes', async () => {
    const p = await handshake({}, { peerAddress: '192.0.2.1 port 5555' });
    expect(p.server.peerVersion!.text).toMatch(/^SSH-2\.0-edgessh_/);
    expect(p.server.sessionId!.length).toBe(32);
    expect(p.server.isEncrypted('in') && p.server.isEncrypted('out') && p.server.isVerified()).toBe(true);
    expect(p.server.peerAddress).toBe('192.0.2.1 port 5555');
    expect(p.server.negotiated).toMatchObject({ kex: 'mlkem768x25519-sha256', hostKey: 'ssh-ed25519' });
  });

  it('a message ≥ 50 before any service is a protocol error', async () => {
    const p = await handshake();
    p.client.send(new Uint8Array([MSG.USERAUTH_REQUEST, 0, 0, 0, 0]));
    await until(() => !!p.s.closed);
    expect(p.s.closed!.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
  });
});
