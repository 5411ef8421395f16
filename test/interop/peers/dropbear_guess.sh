#!/bin/sh
# Dropbear's client sends a guessed kex packet (first_kex_packet_follows); run `true` with a key.
exec dbclient -y -y -J "socat - TCP:127.0.0.1:$1" -i "$2" -l tester edgessh-test true </dev/null
