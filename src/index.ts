/** edgessh: the public API. Runtime-neutral: no Node built-ins below this point. */
export { createServer, parseMaxStartups, DEFAULT_MAX_STARTUPS, type ServerOptions, type SshServer, type AcceptInfo, type MaxStartups } from './server.ts';
export { Transport, type TransportOptions, type TransportEvent, type CloseInfo, type Service, type PacketTrace } from './transport/transport.ts';
export { Session, ChannelClosedError, type PtyInfo, type SessionKind } from './connection/session.ts';
export type { ForwardListener, ForwardRequest, ForwardStream, IncomingConnection, ListenRequest } from './connection/connection.ts';
export type { AuthRequest, AuthResult, Authenticate, KeyboardPrompt } from './auth/server.ts';
export { parseAuthorizedKeys, parseAuthorizedKeyLine, parseAuthorizedPrincipals, type AuthorizedKey, type AuthorizedPrincipal } from './auth/authorized-keys.ts';
export { certificateOf, certificateOptions, certificateRefusal, certifiedHostKeys, hostCertificateRefusal, parseCertificate, signCertificate, type Certificate, type CertificateCheck, type CertificateRequest, type CertifiedKey, type HostCertificateCheck } from './auth/certificate.ts';
export { RevokedKeys } from './auth/revoked-keys.ts';
export { connectTransport, type ByteSink } from './io/connection.ts';
export { loopback } from './io/loopback.ts';
export { DEFAULT_ALGORITHMS, LEGACY_ALGORITHMS, SERVER_HOST_KEY_ALGORITHMS, type AlgorithmPrefs } from './crypto/registry.ts';
export type { PrivateKey, PublicKey } from './crypto/types.ts';
export { DISCONNECT, MSG, SshError } from './wire/messages.ts';
export { DEMO_SUBSYSTEMS, makeDemoPolicy, runDemoSession, parsePermitOpen } from './apps/demo.ts';
export { runSftp, type SftpContext } from './apps/sftp.ts';
export { MemoryStorage, type FileInfo, type FileStorage } from './apps/storage.ts';
export { webSocketSink, feedFromWebSocket, WS_CLOSE, type WebSocketLike } from './io/websocket.ts';
export { SshClient, ClientChannel, AuthFailedError, connect, type ClientOptions, type PtyRequest, type ExitInfo } from './client/client.ts';
