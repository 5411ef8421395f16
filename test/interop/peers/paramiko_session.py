"""paramiko SSHClient against edgessh: login (key or password), exec, and an 8 MiB upload with checksum."""
import hashlib, os, sys
import paramiko
from paramiko.proxy import ProxyCommand

port, user, mode, secret = sys.argv[1:5]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
kw = dict(sock=ProxyCommand(os.environ.get("EDGESSH_PROXY") or f"socat - TCP:127.0.0.1:{port}"), username=user, look_for_keys=False, allow_agent=False, timeout=20)
if mode == "key":
    kw["key_filename"] = secret
else:
    kw["password"] = secret
c.connect("edgessh-test", **kw)
_, out, _ = c.exec_command("echo hi")
print(out.read().decode().strip(), out.channel.recv_exit_status())
data = bytes((i * 31) & 0xFF for i in range(8 * 1024 * 1024))
stdin, out, _ = c.exec_command("sha256sum")
stdin.write(data)
stdin.channel.shutdown_write()
got = out.read().decode().split()[0]
print(got == hashlib.sha256(data).hexdigest())
c.close()
