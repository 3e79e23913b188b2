# gevent's StreamServer: a greenlet per connection (Debian's python3-gevent).
#   python3 gevent_echo.py PORT
import sys

from gevent.server import StreamServer


def echo(sock, _address):
    while True:
        data = sock.recv(16384)
        if not data:
            break
        sock.sendall(data)
    sock.close()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7000
    StreamServer(("127.0.0.1", port), echo, backlog=4096).serve_forever()
