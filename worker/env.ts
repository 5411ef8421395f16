import type { SshSession } from './session.ts';
import type { UserFiles } from './files.ts';

/** Bindings and configuration (wrangler.toml vars; HOST_KEY and PASSWORD are secrets). */
export interface Env {
  SESSIONS: DurableObjectNamespace<SshSession>;
  FILES: DurableObjectNamespace<UserFiles>;
  ASSETS?: Fetcher;
  /** The host key(s): OpenSSH private key or PKCS#8 PEM text (several may be concatenated). */
  HOST_KEY?: string;
  /** sshd's HostCertificate: certificates of the host keys (`ssh-keygen -s CA -h`), one public key line each. */
  HOST_CERTIFICATE?: string;
  /** authorized_keys text: these keys may log in as any user. */
  AUTHORIZED_KEYS?: string;
  /**
   * Each user's own authorized_keys (sshd's AuthorizedKeysFile with %u): an object from user name to
   * authorized_keys text (a `[vars.USER_AUTHORIZED_KEYS]` table in wrangler.toml), or the same as JSON text
   * (a secret, .dev.vars). A user's keys log in that user only.
   */
  USER_AUTHORIZED_KEYS?: string | Record<string, string>;
  /**
   * The Worker's AuthorizedKeysCommand: an http(s) URL template (%u the user name, %% a %), e.g.
   * `https://github.com/%u.keys`, fetched when no other line matched; its body is that user's authorized_keys.
   */
  AUTHORIZED_KEYS_URL?: string;
  /** sshd's TrustedUserCAKeys: CA public keys whose user certificates log in the users they name. */
  TRUSTED_USER_CA_KEYS?: string;
  /**
   * sshd's AuthorizedPrincipalsFile: `[options] principal` lines, the same for every user; or each user's own,
   * as a `[vars.AUTHORIZED_PRINCIPALS]` table or JSON text (an object from user name to lines). Set, a
   * certificate of a TRUSTED_USER_CA_KEYS authority must list one of the user's principals instead of their name.
   */
  AUTHORIZED_PRINCIPALS?: string | Record<string, string>;
  /** sshd's RevokedKeys: public key lines, or a KRL (ssh-keygen -k) as base64. */
  REVOKED_KEYS?: string;
  /** sshd's AllowUsers and DenyUsers: USER or USER@HOST patterns (HOST the client's address, CIDR allowed). */
  ALLOW_USERS?: string;
  DENY_USERS?: string;
  /** Opt-in password for password and keyboard-interactive logins. */
  PASSWORD?: string;
  /**
   * Where logged-in users may forward to (`ssh -L`, `-W`, `-J`), in sshd's PermitOpen syntax
   * (`host:port`, `*`, `any`), through the Workers TCP sockets API. Unset: no forwarding.
   */
  PERMIT_OPEN?: string;
  /** Each user's files together may hold this many MiB (default 256). */
  FILES_QUOTA_MB?: string;
  /** Banner shown before login. */
  BANNER?: string;
  /** '1' enables the /echo baseline used by the benchmark. */
  BENCH_ECHO?: string;
}
