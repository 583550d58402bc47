"""What a network attack would reach: a TCP and a UDP listener on 127.0.0.1, run by the audit
for one case, recording every connection and datagram that arrives. Loopback only: no audit
case addresses anything else, so a working attack reaches these and nothing outside."""
from __future__ import annotations

import select
import socket
import threading


class Listener:
    def __init__(self):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.arrived: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def ports(self) -> dict:
        """The placeholders an attack names them by (see sources.malicious_files)."""
        return {"LISTENER_TCP_PORT": self.tcp.getsockname()[1],
                "LISTENER_UDP_PORT": self.udp.getsockname()[1]}

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.2)
            if self.udp in ready:
                data, _ = self.udp.recvfrom(4096)
                self.arrived.append(f"a UDP datagram of {len(data)} bytes")
            if self.tcp in ready:
                conn, _ = self.tcp.accept()
                conn.settimeout(2)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                conn.close()
                self.arrived.append(f"a TCP connection that sent {len(data)} bytes")

    def heard(self) -> list[str]:
        return list(self.arrived)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.tcp.close()
        self.udp.close()
