"""TLS, mutual TLS and bearer tokens with roles, end to end with certificates made here."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dolphin import errors
from dolphin.client import Client, ServerError
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e
TOKENS = {"reader": "r" * 24, "writer": "w" * 24, "admin": "a" * 24}


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: pathlib.Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("dolphin test CA", ca_key, None, ca=True)
    _write(root / "ca", ca, ca_key)
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(root / name, _cert(name, key, (ca.subject, ca_key), ca=False), key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    _write(root / "other-ca", _cert("other CA", other_key, None, ca=True), other_key)
    return root


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tls_and_mutual_tls(pki: pathlib.Path, loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(loaded_dir, tmp_path / "data")
    health_port = free_port()
    server = RunningServer(tmp_path / "data", "--tls-cert", str(pki / "server.crt"), "--tls-key",
                           str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.crt"),
                           "--health-port", str(health_port), "--http-port", str(free_port()), wait=False)
    try:
        with Client(server.target, tls_ca=str(pki / "ca.crt"), tls_cert=str(pki / "client.crt"),
                    tls_key=str(pki / "client.key"), retries=0) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert client.count("ALL") == 3000
                    break
                except errors.NotReadyError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        probe = subprocess.run([sys.executable, "-m", "dolphin", "health", "--target", f"127.0.0.1:{health_port}"],
                               capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0 and probe.stdout.strip() == "SERVING"  # plaintext health port for probes
        _check_https(server.http_url, pki)
        for kwargs in ({}, {"tls_ca": str(pki / "ca.crt")}, {"tls_ca": str(pki / "other-ca.crt"),
                                                              "tls_cert": str(pki / "client.crt"),
                                                              "tls_key": str(pki / "client.key")}):
            with Client(server.target, retries=0, timeout=3, **kwargs) as client:  # type: ignore[arg-type]
                with pytest.raises((errors.NotReadyError, ServerError)):
                    client.count("ALL")
    finally:
        assert server.stop() == 0


def _check_https(url: str, pki: pathlib.Path) -> None:
    """The HTTP API speaks TLS with the gRPC certificate and asks the same client certificates."""
    import ssl
    import urllib.error
    import urllib.request

    assert url.startswith("https://")
    request = urllib.request.Request(url + "/v1/dolphin.v1.AudienceService/Count", data=b'{"expression": "ALL"}')
    trusted = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    trusted.check_hostname = False
    trusted.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    with urllib.request.urlopen(request, context=trusted, timeout=30) as response:
        assert json.loads(response.read())["count"] == "3000"
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    anonymous.check_hostname = False
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(request, context=anonymous, timeout=30).read()  # no client certificate
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(url.replace("https://", "http://") + "/v1/openapi.json", timeout=30).read()


def test_plaintext_off_loopback_needs_insecure(tmp_path: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dolphin", "serve", "--data-dir", str(tmp_path), "--host",
                             "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "refusing plaintext gRPC on 0.0.0.0" in result.stderr


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory, loaded_dir: pathlib.Path):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("tokens")
    shutil.copytree(loaded_dir, root / "data")
    (root / "tokens").write_text("# token role\n" + "".join(f"{t} {r}\n" for r, t in TOKENS.items()))
    server = RunningServer(root / "data", "--auth-tokens", str(root / "tokens"), wait=True)
    yield server, root / "tokens"
    server.stop()


CALLS = {
    "reader": lambda c: c.count("gender=F"),
    "writer": lambda c: c.save_audience("by_writer", "gender=F", overwrite=True),
    "admin": lambda c: c.reload(),
}


@pytest.mark.parametrize("role", list(TOKENS))
@pytest.mark.parametrize("needed", list(CALLS))
def test_every_role_against_every_level(token_server, role: str, needed: str) -> None:  # type: ignore[no-untyped-def]
    server, _ = token_server
    order = list(TOKENS)
    with Client(server.target, token=TOKENS[role], retries=0) as client:
        if order.index(role) >= order.index(needed):
            CALLS[needed](client)
        else:
            with pytest.raises(errors.RoleError, match=f"needs the {needed} role"):
                CALLS[needed](client)


@pytest.mark.parametrize("metadata", [None, (("authorization", "Bearer wrong-token-xxxxxxxxxxxx"),),
                                      (("authorization", "Bearer "),), (("authorization", "r" * 24),),
                                      (("authorization", "Bearer " + "r" * 24), ("authorization", "Bearer x"))])
def test_missing_or_wrong_tokens(token_server, metadata) -> None:  # type: ignore[no-untyped-def]
    server, _ = token_server
    from dolphin.v1 import audience_service_pb2 as pb
    from dolphin.v1 import audience_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.AudienceServiceStub(channel).Count(pb.CountRequest(expression="ALL"), metadata=metadata, timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "r" * 24 not in server.log()


def test_lowercase_bearer_health_open_and_sighup(token_server) -> None:  # type: ignore[no-untyped-def]
    server, token_file = token_server
    from dolphin.v1 import audience_service_pb2 as pb
    from dolphin.v1 import audience_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.AudienceServiceStub(channel)
        assert stub.Count(pb.CountRequest(expression="ALL"), metadata=(("authorization", "bearer " + "r" * 24),),
                          timeout=5).count == 3000
    health = subprocess.run([sys.executable, "-m", "dolphin", "health", "--target", server.target],
                            capture_output=True, text=True, timeout=30)
    assert health.stdout.strip() == "SERVING"
    new = "n" * 24
    token_file.write_text(token_file.read_text() + f"{new} reader\n")
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            with Client(server.target, token=new, retries=0) as client:
                client.count("ALL")
            break
        except errors.NotReadyError:
            raise
        except ServerError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_reflection_follows_the_reader_role(token_server) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.test_grpcurl import GRPCURL

    server, _ = token_server
    denied = subprocess.run([str(GRPCURL), "-plaintext", server.target, "list"], capture_output=True, text=True,
                            timeout=60)
    assert denied.returncode != 0 and "Unauthenticated" in denied.stderr
    allowed = subprocess.run([str(GRPCURL), "-plaintext", "-H", f"authorization: Bearer {TOKENS['reader']}",
                              server.target, "list"], capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0 and "dolphin.v1.AudienceService" in allowed.stdout


def test_every_role_rpc_pair(token_server) -> None:  # type: ignore[no-untyped-def]
    """Every method of every service, with every role: allowed ones never fail auth, others get PERMISSION_DENIED."""
    from dolphin.server.auth import ROLES, required_role
    from tests.server.test_wire_fuzz import METHODS, call

    server, _ = token_server
    checked = 0
    for role, token in TOKENS.items():
        # plaintext channels cannot carry call credentials: add the header with a client interceptor
        channel = grpc.intercept_channel(grpc.insecure_channel(server.target), _Bearer(token))
        with channel:
            for method, kind in METHODS:
                code = call(channel, method, kind, b"")
                needed = required_role(method) or "reader"
                if ROLES[role] >= ROLES[needed]:
                    assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), method
                else:
                    assert code is grpc.StatusCode.PERMISSION_DENIED, (role, method, code)
                checked += 1
    assert checked == 3 * len(METHODS)


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
              grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _details(self, details):  # type: ignore[no-untyped-def]
        return _Details(details.method, details.timeout, self.metadata, details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)


class _Details(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):  # type: ignore[no-untyped-def]
        self.method, self.timeout, self.metadata = method, timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = credentials, wait_for_ready, compression


def test_lookalike_save_as_needs_writer(token_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = token_server
    with Client(server.target, token=TOKENS["reader"], retries=0) as reader:
        with pytest.raises(errors.RoleError, match="Lookalike with save_as needs the writer role"):
            reader.lookalike("ALL", k=5, save_as="grown")
        with pytest.raises(errors.PreconditionError, match="no embeddings"):  # searching alone is a reader's right
            reader.lookalike("ALL", k=5)
    with Client(server.target, token=TOKENS["writer"], retries=0) as writer:
        with pytest.raises(errors.PreconditionError, match="no embeddings"):  # passed the role check
            writer.lookalike("ALL", k=5, save_as="grown")
