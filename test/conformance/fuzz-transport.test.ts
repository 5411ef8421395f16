// Hostile input: a seeded fuzzer sends mutated packets before and after key exchange. No exception may
// escape, every connection must either end with a DISCONNECT (with a reason and text) or carry on, and
// memory must stay bounded.
import { describe, expect, it } from 'vitest';
import { Writer } from '../../src/wire/writer.ts';
import { MSG } from '../../src/wire/messages.ts';
import { enc, handshake, kexinitPayload, plainPacket, rawServer } from '../helpers/transport.ts';
import { mutate, prng, trackEscapes } from '../helpers/fuzz.ts';

const preKexCorpus = [
  kexinitPayload(),
  kexinitPayload({ kex: ['curve25519-sha256', 'kex-strict-c-v00@openssh.com'], follows: true }),
  new Writer().byte(30).bytes(new Uint8Array(32).fill(9)).finish(),
  new Writer().byte(34).uint32(2048).uint32(3072).uint32(8192).finish(),
  new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(8)).finish(),
  new Writer().byte(MSG.DEBUG).boolean(true).string('x').string('').finish(),
  new Writer().byte(MSG.SERVICE_REQUEST).string('ssh-userauth').finish(),
  new Uint8Array([MSG.NEWKEYS]),
  new Writer().byte(MSG.DISCONNECT).uint32(2).string('x').string('').finish(),
];

const postKexCorpus = [
  new Writer().byte(MSG.IGNORE).bytes(new Uint8Array(8)).finish(),
  new Writer().byte(MSG.DEBUG).boolean(false).string('hello').string('').finish(),
  new Writer().byte(MSG.UNIMPLEMENTED).uint32(3).finish(),
  new Writer().byte(MSG.SERVICE_REQUEST).string('ssh-userauth').finish(),
  new Writer().byte(MSG.EXT_INFO).uint32(1).string('server-sig-algs').string('ssh-ed25519').finish(),
  new Writer().byte(192).bytes(enc('ping')).finish(),
  kexinitPayload(),
  new Writer().byte(MSG.USERAUTH_REQUEST).string('u').string('ssh-connection').string('none').finish(),
  new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(0).uint32(65536).uint32(32768).finish(),
  new Uint8Array([150]),
];


describe('transport fuzzing (seeded)', () => {
  it('before key exchange: 60,000 mutated plaintext packets', async () => {
    const rnd = prng(0x5eed1);
    const esc = trackEscapes();
    let closedWithReason = 0;
    let cases = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    while (cases < 60_000) {
      const { server, rec } = await rawServer({ algorithms: { kex: ['curve25519-sha256'] } });
      server.receive(enc('SSH-2.0-fuzz\r\n'));
      // Up to 40 mutated packets per connection, or until it ends.
      for (let i = 0; i < 40 && !rec.closed; i++, cases++) {
        const base = preKexCorpus[rnd.int(preKexCorpus.length)]!;
        const payload = mutate(rnd, base);
        const frame = rnd.int(10) === 0 ? mutate(rnd, plainPacket(payload)) : plainPacket(payload.length ? payload : new Uint8Array([2]));
        server.receive(frame);
        await server.idle();
      }
      if (rec.closed && rec.closed.by === 'local') {
        // We ended it: a reason code and text a person can read. (A mutated DISCONNECT from the
        // fuzzer ends it 'by peer' with whatever reason it carried.)
        expect(rec.closed.message.length).toBeGreaterThan(0);
        expect(rec.closed.reason).toBeGreaterThan(0);
        closedWithReason++;
      }
      server.connectionLost();
    }
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(closedWithReason).toBeGreaterThan(100);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
  }, 600_000);

  it('after key exchange: 50,000 mutated encrypted messages', async () => {
    const rnd = prng(0x5eed2);
    const esc = trackEscapes();
    let cases = 0;
    let connections = 0;
    while (cases < 50_000) {
      const p = await handshake(
        { algorithms: { kex: ['curve25519-sha256'], cipher: ['aes128-gcm@openssh.com'] } },
        {
          services: {
            'ssh-userauth': () => ({ handle: (t) => t < 60 }),
          },
        },
      );
      connections++;
      for (let i = 0; i < 500 && !p.s.closed; i++, cases++) {
        p.client.send(mutate(rnd, postKexCorpus[rnd.int(postKexCorpus.length)]!));
        if (i % 25 === 0) await p.server.idle();
      }
      await p.server.idle();
      if (p.s.closed?.by === 'local') expect(p.s.closed.message.length).toBeGreaterThan(0);
      p.client.connectionLost();
      p.server.connectionLost();
    }
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(connections).toBeGreaterThan(1);
  }, 600_000);
});
