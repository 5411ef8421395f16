#!/usr/bin/env bash
# Installs the real SSH peers the interop tests drive (see shared/INTEROP.md).
# Debian packages system-wide; the OpenSSH 10 client unpacked into .peers/openssh10 (the system keeps 9.2).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
pkgs=(openssh-client openssh-server dropbear-bin putty-tools python3-paramiko python3-asyncssh socat tmux expect sshpass websockify chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})) || [ ! -x .peers/openssh10/usr/bin/ssh ]; then
  if [ ! -f /etc/apt/sources.list.d/backports.sources ]; then
    sed -n '1,/^$/p' /etc/apt/sources.list.d/debian.sources \
      | sed -e 's/^Suites: .*/Suites: bookworm-backports/' -e '/^#/d' > /etc/apt/sources.list.d/backports.sources
  fi
  apt-get update -qq
fi
if ((${#missing[@]})); then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's sshd is a reference peer, never a running service here.
systemctl disable --now ssh >/dev/null 2>&1 || true
if [ ! -x .peers/openssh10/usr/bin/ssh ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq openssh-client/bookworm-backports >/dev/null)
  mkdir -p .peers/openssh10
  dpkg -x "$tmp"/openssh-client_*.deb .peers/openssh10
  rm -rf "$tmp"
fi
.peers/openssh10/usr/bin/ssh -V
