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
# The server answers an IGNORE-free keepalive: a global request it refuses.
reply = t.global_request("keepalive@openssh.com", wait=True)
print(f"{key.get_name()} {first} {t.remote_cipher} {ok} {reply is None}")
t.close()
