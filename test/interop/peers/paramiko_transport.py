"""paramiko's Transport against edgessh: kex, one cipher, then renegotiate_keys(). Prints what was negotiated."""
import sys
import paramiko
from paramiko.proxy import ProxyCommand

port, cipher, kex = sys.argv[1], sys.argv[2], sys.argv[3]
sock = ProxyCommand(f"socat - TCP:127.0.0.1:{port}")
t = paramiko.Transport(sock)
opts = t.get_security_options()
opts.ciphers = (cipher,)
if kex != "default":
    opts.kex = (kex,)
t.start_client(timeout=20)
key = t.get_remote_server_key()
first = t.remote_cipher
t.renegotiate_keys()
ok = t.is_active()
# An IGNORE after the rekey proves the new keys work in both directions.
t.send_ignore(64)
print(f"{key.get_name()} {first} {t.remote_cipher} {ok and t.is_active()}")
t.close()
