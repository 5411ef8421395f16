"""paramiko against edgessh: a direct-tcpip channel (what paramiko's forwarding demos open) to a TCP echo
server, 1 MiB through it with a checksum; then a refused target, reported as paramiko's ChannelException."""
import hashlib, os, sys
import paramiko
from paramiko.proxy import ProxyCommand

port, key, echo_port, refused_port = sys.argv[1:5]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("edgessh-test", sock=ProxyCommand(f"socat - TCP:127.0.0.1:{port}"), username="tester",
          key_filename=key, look_for_keys=False, allow_agent=False, timeout=20)
t = c.get_transport()
ch = t.open_channel("direct-tcpip", ("127.0.0.1", int(echo_port)), ("127.0.0.1", 40000))
data = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(1024 * 1024))
ch.sendall(data)
ch.shutdown_write()
got = bytearray()
while True:
    b = ch.recv(65536)
    if not b:
        break
    got += b
print("echo", hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), len(got))
try:
    t.open_channel("direct-tcpip", ("127.0.0.1", int(refused_port)), ("127.0.0.1", 40001))
    print("refused False")
except paramiko.ChannelException as e:
    print("refused", e.code, e.text)
c.close()
