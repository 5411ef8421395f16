/**
 * Names and decodes SSH messages for people: the loopback harness's packet inspector and debug logs.
 * Best effort and total: a message that does not parse is shown with the fields read so far.
 */
import { MSG } from './messages.ts';
import { Reader } from './reader.ts';

const NAMES: Record<number, string> = {};
for (const [name, n] of Object.entries(MSG)) NAMES[n] ??= name;
// Numbers whose meaning depends on context (RFC 4250 §4.1.2).
NAMES[30] = 'KEX_ECDH_INIT / KEXDH_INIT';
NAMES[31] = 'KEX_ECDH_REPLY / KEXDH_REPLY / GEX_GROUP';
NAMES[60] = 'USERAUTH_PK_OK / INFO_REQUEST';
NAMES[192] = 'PING@openssh.com';
NAMES[193] = 'PONG@openssh.com';

export interface Described {
  type: number;
  name: string;
  fields: [string, string][];
}

const short = (b: Uint8Array, max = 16) =>
  `${b.length} bytes ${Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0')).join('')}${b.length > max ? '…' : ''}`;
const text = (s: string, max = 80) => JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s);

export function describeMessage(payload: Uint8Array): Described {
  const type = payload[0] ?? -1;
  const name = NAMES[type] ?? `message ${type}`;
  const fields: [string, string][] = [];
  const r = new Reader(payload, 1);
  const add = (k: string, v: string) => fields.push([k, v]);
  try {
    switch (type) {
      case MSG.DISCONNECT:
        add('reason', String(r.uint32()));
        add('description', text(r.string()));
        break;
      case MSG.IGNORE:
        add('data', short(r.bytes()));
        break;
      case MSG.UNIMPLEMENTED:
        add('seq', String(r.uint32()));
        break;
      case MSG.DEBUG:
        add('always_display', String(r.boolean()));
        add('message', text(r.string()));
        break;
      case MSG.SERVICE_REQUEST:
      case MSG.SERVICE_ACCEPT:
        add('service', r.string());
        break;
      case MSG.EXT_INFO: {
        const n = r.uint32();
        for (let i = 0; i < n && i < 16; i++) add(r.string(), text(new TextDecoder().decode(r.bytes())));
        break;
      }
      case MSG.KEXINIT: {
        add('cookie', short(r.raw(16)));
        for (const k of ['kex', 'host key', 'cipher c→s', 'cipher s→c', 'mac c→s', 'mac s→c', 'compression c→s', 'compression s→c', 'lang c→s', 'lang s→c'])
          add(k, r.nameList().join(','));
        add('first_kex_packet_follows', String(r.boolean()));
        break;
      }
      case 30:
      case 31:
      case 32:
      case 33:
      case 34:
        add('body', short(payload.subarray(1), 24));
        break;
      case MSG.USERAUTH_REQUEST: {
        add('user', text(r.string()));
        add('service', r.string());
        const method = r.string();
        add('method', method);
        if (method === 'publickey') {
          const signed = r.boolean();
          add('signed', String(signed));
          add('algorithm', r.string());
        } else if (method === 'password') {
          r.boolean();
          add('password', '(hidden)');
        }
        break;
      }
      case MSG.USERAUTH_FAILURE:
        add('methods', r.nameList().join(','));
        add('partial', String(r.boolean()));
        break;
      case MSG.USERAUTH_BANNER:
        add('message', text(r.string()));
        break;
      case MSG.USERAUTH_INFO_RESPONSE:
        add('answers', `${r.uint32()} (hidden)`);
        break;
      case MSG.GLOBAL_REQUEST:
        add('request', r.string());
        add('want_reply', String(r.boolean()));
        break;
      case MSG.CHANNEL_OPEN:
        add('type', r.string());
        add('sender', String(r.uint32()));
        add('window', String(r.uint32()));
        add('max_packet', String(r.uint32()));
        break;
      case MSG.CHANNEL_OPEN_CONFIRMATION:
        add('recipient', String(r.uint32()));
        add('sender', String(r.uint32()));
        add('window', String(r.uint32()));
        add('max_packet', String(r.uint32()));
        break;
      case MSG.CHANNEL_OPEN_FAILURE:
        add('recipient', String(r.uint32()));
        add('reason', String(r.uint32()));
        add('description', text(r.string()));
        break;
      case MSG.CHANNEL_WINDOW_ADJUST:
        add('recipient', String(r.uint32()));
        add('bytes', String(r.uint32()));
        break;
      case MSG.CHANNEL_DATA:
        add('recipient', String(r.uint32()));
        add('data', textOrBytes(r.bytes()));
        break;
      case MSG.CHANNEL_EXTENDED_DATA:
        add('recipient', String(r.uint32()));
        add('type', String(r.uint32()));
        add('data', textOrBytes(r.bytes()));
        break;
      case MSG.CHANNEL_EOF:
      case MSG.CHANNEL_CLOSE:
      case MSG.CHANNEL_SUCCESS:
      case MSG.CHANNEL_FAILURE:
        add('recipient', String(r.uint32()));
        break;
      case MSG.CHANNEL_REQUEST: {
        add('recipient', String(r.uint32()));
        const req = r.string();
        add('request', req);
        add('want_reply', String(r.boolean()));
        if (req === 'exec' || req === 'subsystem') add('command', text(r.string()));
        else if (req === 'exit-status') add('status', String(r.uint32()));
        else if (req === 'pty-req') add('term', `${r.string()} ${r.uint32()}x${r.uint32()}`);
        else if (req === 'window-change') add('size', `${r.uint32()}x${r.uint32()}`);
        else if (req === 'signal' || req === 'exit-signal') add('signal', r.string());
        break;
      }
    }
  } catch {
    add('(truncated)', `${payload.length} bytes`);
  }
  return { type, name, fields };
}

function textOrBytes(b: Uint8Array): string {
  const s = new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(0, 120));
  return /^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(s) ? `${b.length} bytes ${text(s, 60)}` : short(b);
}
