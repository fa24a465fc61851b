"""Runs `phoenix serve` with its OTLP gRPC receiver on 127.0.0.1 instead of every
interface (Phoenix 20 binds it to [::] with no setting to change that), so the
end-to-end check listens on loopback only. Its HTTP server follows PHOENIX_HOST."""

import sys

import grpc.aio._server as aio_server

_add_insecure_port = aio_server.Server.add_insecure_port


def _loopback(self, address):
    return _add_insecure_port(self, address.replace("[::]", "127.0.0.1", 1))


aio_server.Server.add_insecure_port = _loopback

from phoenix.server.main import main  # noqa: E402

sys.argv = ["phoenix", "serve"]
sys.exit(main())
