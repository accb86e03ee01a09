#!/usr/bin/env python3
"""Relays stdin/stdout to a TCP address: qemu's guestfwd=...-cmd: runs this
once per guest connection (images/image-test.sh), so the guest reaches the
host's dais on 10.0.2.100:8080 with no other network.
Usage: tcp_relay.py HOST PORT"""
import os
import selectors
import socket
import sys

s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ, "in")
sel.register(s, selectors.EVENT_READ, "sock")
open_in = True
while True:
    for key, _ in sel.select():
        if key.data == "in":
            data = os.read(0, 65536)
            if not data:
                sel.unregister(0)
                s.shutdown(socket.SHUT_WR)
                open_in = False
            else:
                s.sendall(data)
        else:
            data = s.recv(65536)
            if not data:
                sys.exit(0)
            os.write(1, data)
