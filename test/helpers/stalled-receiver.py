"""A TCP receiver that accepts and does not read until told to: the peer of the /ready stall test.

node:net cannot set SO_RCVBUF, and with Linux autotuning a paused node:net peer lets the kernel buffer up to
net.ipv4.tcp_rmem's maximum (32 MB on some machines) before the sender's writes stop completing, which took longer
than a minute under load. Here the receive buffer is fixed small before listen() (accepted sockets inherit it, and a
set SO_RCVBUF turns autotuning off), so a sender stalls after tens of kilobytes.

Prints "port=N" once listening. Reads stdin: the line "read" starts reading (and discarding) on every connection,
present and future; end of stdin exits.
"""

import socket
import sys
import threading

go = threading.Event()


def drain(conn: socket.socket) -> None:
    go.wait()
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def accept_loop(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def main() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print(f"port={server.getsockname()[1]}", flush=True)
    threading.Thread(target=accept_loop, args=(server,), daemon=True).start()
    for line in sys.stdin:
        if line.strip() == "read":
            go.set()
    server.close()


main()
