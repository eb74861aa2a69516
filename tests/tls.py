"""Certificates made for a test (trustme): a CA the client may or may not trust, and a
server certificate for 127.0.0.1 that it signed."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TestCertificates:
    """The server's TLS context, the CA bundle that trusts it, and the PEM files of both."""

    server: ssl.SSLContext
    ca_bundle: Path
    server_pem: Path


def make_certificates(folder: Path) -> TestCertificates:
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(server)
    ca_bundle = folder / "test-ca.pem"
    authority.cert_pem.write_to_path(str(ca_bundle))
    server_pem = folder / "server.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return TestCertificates(server=server, ca_bundle=ca_bundle, server_pem=server_pem)
