"""The network PKI: CA, requests, node certificates, refusals, and a real mutual-TLS handshake."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from polex.crypto.pki import (
    CertificateRefused,
    NodeName,
    certificate_pem,
    client_ssl_context,
    create_network_ca,
    csr_pem,
    fingerprint,
    issue_node_certificate,
    load_certificate,
    load_private_key,
    make_csr,
    new_private_key,
    peer_node,
    private_key_pem,
    read_csr,
    server_ssl_context,
    verify_node_certificate,
    write_private_file,
)

HUB = NodeName(name="hub", country="XPO", role="hub")
FRANCE = NodeName(name="fra", country="FRA", role="national")
TIMEOUT_SECONDS = 5.0

Authority = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@dataclass(frozen=True)
class NodeCredentials:
    node: NodeName
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _enrol(
    authority: Authority, node: NodeName, *, now: dt.datetime | None = None, valid_days: int = 365
) -> NodeCredentials:
    """What the real flow does: the node makes a key and a request, the hub reads and signs it."""
    ca_key, ca_cert = authority
    key = new_private_key()
    csr, named = read_csr(csr_pem(make_csr(key, node)))
    assert named == node
    cert = issue_node_certificate(ca_key, ca_cert, csr, now=now, valid_days=valid_days)
    return NodeCredentials(node=node, key=key, cert=cert)


@pytest.fixture(scope="module")
def network() -> Authority:
    return create_network_ca()


@pytest.fixture(scope="module")
def other_network() -> Authority:
    # Same default name as the real CA: only the signature can tell them apart.
    return create_network_ca()


@pytest.fixture(scope="module")
def france(network: Authority) -> NodeCredentials:
    return _enrol(network, FRANCE)


# Certificates and PEM


def test_network_ca_is_a_self_signed_path_length_zero_ca(network: Authority) -> None:
    _, ca_cert = network
    basic_constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    key_usage = ca_cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert basic_constraints.critical
    assert basic_constraints.value.ca
    assert basic_constraints.value.path_length == 0
    assert key_usage.critical
    assert key_usage.value.key_cert_sign
    assert key_usage.value.crl_sign
    assert ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ca_cert.verify_directly_issued_by(ca_cert)


def test_ca_and_node_certificates_round_trip_through_pem(network: Authority, france: NodeCredentials) -> None:
    _, ca_cert = network
    loaded_ca = load_certificate(certificate_pem(ca_cert))
    loaded_node = load_certificate(certificate_pem(france.cert))
    assert loaded_ca == ca_cert
    assert loaded_node == france.cert
    assert verify_node_certificate(loaded_node, loaded_ca) == FRANCE


def test_fingerprint_is_the_sha256_of_the_der_and_stable(france: NodeCredentials) -> None:
    reloaded = load_certificate(certificate_pem(france.cert))
    der = france.cert.public_bytes(serialization.Encoding.DER)
    assert fingerprint(france.cert) == fingerprint(reloaded) == hashlib.sha256(der).hexdigest()


def test_node_certificate_carries_the_node_identity(network: Authority, france: NodeCredentials) -> None:
    _, ca_cert = network
    cert = france.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fra"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "FRA"
    alternative_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(alternative_names.get_values_for_type(x509.DNSName)) == {"fra", "localhost"}
    assert alternative_names.get_values_for_type(x509.UniformResourceIdentifier) == ["polex:node:fra:FRA:national"]
    assert [str(ip) for ip in alternative_names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    authority_key_id = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert authority_key_id == ca_key_id
    assert cert.not_valid_before_utc < dt.datetime.now(dt.UTC) < cert.not_valid_after_utc


def test_private_key_round_trips_through_pem() -> None:
    key = new_private_key()
    loaded = load_private_key(private_key_pem(key))
    assert isinstance(loaded.curve, ec.SECP256R1)
    assert loaded.private_numbers() == key.private_numbers()


def test_write_private_file_is_owner_only_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "node-key.pem"
    write_private_file(path, b"first")
    write_private_file(path, b"second")
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["node-key.pem"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("name", "country", "role"),
    [("FRA", "FRA", "national"), ("fra", "fr", "national"), ("fra", "FRA", "regional"), ("fr:a", "FRA", "national")],
)
def test_node_name_rejects_malformed_parts(name: str, country: str, role: str) -> None:
    with pytest.raises(ValueError, match=r"node name|country|role"):
        NodeName(name=name, country=country, role=role)  # type: ignore[arg-type]


# Refusals


def test_expired_certificate_is_refused(network: Authority) -> None:
    _, ca_cert = network
    issued = _enrol(network, FRANCE, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), valid_days=30)
    after_expiry = issued.cert.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(CertificateRefused) as refusal:
        verify_node_certificate(issued.cert, ca_cert, at=after_expiry)
    assert refusal.value.reason == "expired on 2026-01-31 00:00:00 UTC"


def test_not_yet_valid_certificate_is_refused(network: Authority, france: NodeCredentials) -> None:
    _, ca_cert = network
    before = france.cert.not_valid_before_utc - dt.timedelta(minutes=1)
    with pytest.raises(CertificateRefused, match=r"^not valid before ") as refusal:
        verify_node_certificate(france.cert, ca_cert, at=before)
    assert str(refusal.value) == refusal.value.reason


def test_certificate_from_another_ca_is_refused(network: Authority, other_network: Authority) -> None:
    _, ca_cert = network
    stranger = _enrol(other_network, FRANCE)
    with pytest.raises(CertificateRefused, match=r"^not issued by this network's CA"):
        verify_node_certificate(stranger.cert, ca_cert)


def test_revoked_certificate_is_refused_with_its_reason(network: Authority, france: NodeCredentials) -> None:
    _, ca_cert = network
    revoked = {france.cert.serial_number: "key compromise"}
    with pytest.raises(CertificateRefused) as refusal:
        verify_node_certificate(france.cert, ca_cert, revoked_serials=revoked)
    assert refusal.value.reason == "revoked: key compromise"
    assert verify_node_certificate(france.cert, ca_cert, revoked_serials={12345: "another node"}) == FRANCE


def test_ca_certificate_presented_as_a_node_certificate_is_refused(network: Authority) -> None:
    _, ca_cert = network
    with pytest.raises(CertificateRefused, match=r"^not a polex node certificate \(it is a CA certificate\)"):
        verify_node_certificate(ca_cert, ca_cert)


def test_certificate_without_the_polex_node_uri_is_refused(network: Authority) -> None:
    ca_key, ca_cert = network
    key = new_private_key()
    now = dt.datetime.now(dt.UTC)
    # Signed by the right CA, shaped like a node certificate, but naming no polex node.
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fra")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fra")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    with pytest.raises(CertificateRefused, match=r"^not a polex node certificate \(.*polex:node: URI"):
        verify_node_certificate(cert, ca_cert)


def test_tampered_certificate_is_refused(network: Authority, france: NodeCredentials) -> None:
    _, ca_cert = network
    der = bytearray(france.cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the ECDSA signature's s value
    tampered_pem = ssl.DER_cert_to_PEM_cert(bytes(der)).encode()
    with pytest.raises(CertificateRefused, match=r"^not issued by this network's CA"):
        verify_node_certificate(load_certificate(tampered_pem), ca_cert)
    with pytest.raises(CertificateRefused, match=r"^not issued by this network's CA"):
        peer_node(bytes(der), ca_cert)


def test_garbage_is_refused_as_certificate_and_request() -> None:
    with pytest.raises(CertificateRefused, match=r"^not a PEM X\.509 certificate"):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateRefused, match=r"^not a PEM certificate signing request"):
        read_csr(b"not a request")


def test_csr_whose_signature_does_not_match_its_key_is_refused(network: Authority) -> None:
    ca_key, ca_cert = network
    signer, substitute = new_private_key(), new_private_key()
    der = make_csr(signer, FRANCE).public_bytes(serialization.Encoding.DER)
    # Swap in another key: the request now claims a key that did not sign it.
    signer_key_info, substitute_key_info = (
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for key in (signer, substitute)
    )
    assert der.count(signer_key_info) == 1
    forged = x509.load_der_x509_csr(der.replace(signer_key_info, substitute_key_info))
    with pytest.raises(CertificateRefused, match="signature does not match"):
        read_csr(csr_pem(forged))
    with pytest.raises(CertificateRefused, match="signature does not match"):
        issue_node_certificate(ca_key, ca_cert, forged)


def test_csr_asking_for_names_beyond_its_node_is_refused() -> None:
    key = new_private_key()
    greedy = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(make_csr(key, FRANCE).subject)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("fra"), x509.DNSName("hub"), x509.UniformResourceIdentifier(FRANCE.uri)]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CertificateRefused, match="subject alternative names"):
        read_csr(csr_pem(greedy))


def test_peer_node_refuses_a_peer_without_certificate(network: Authority) -> None:
    _, ca_cert = network
    with pytest.raises(CertificateRefused, match="presented no certificate"):
        peer_node(b"", ca_cert)


# Mutual TLS over 127.0.0.1


@dataclass(frozen=True)
class NodeFiles:
    ca: Path
    cert: Path
    key: Path


def _write_node_files(directory: Path, ca_cert: x509.Certificate, credentials: NodeCredentials) -> NodeFiles:
    directory.mkdir()
    files = NodeFiles(ca=directory / "ca.pem", cert=directory / "node.pem", key=directory / "node-key.pem")
    files.ca.write_bytes(certificate_pem(ca_cert))
    files.cert.write_bytes(certificate_pem(credentials.cert))
    write_private_file(files.key, private_key_pem(credentials.key))
    return files


@dataclass
class ServerOutcome:
    peer: NodeName | None = None
    received: bytes = b""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def hub_files(tmp_path: Path, network: Authority) -> NodeFiles:
    _, ca_cert = network
    return _write_node_files(tmp_path / "hub", ca_cert, _enrol(network, HUB))


@pytest.fixture
def hub_server(hub_files: NodeFiles, network: Authority) -> Iterator[tuple[int, ServerOutcome]]:
    """A hub that accepts one connection, names its peer, reads a line and answers it."""
    _, ca_cert = network
    context = server_ssl_context(hub_files.ca, hub_files.cert, hub_files.key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT_SECONDS)
    outcome = ServerOutcome()

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(TIMEOUT_SECONDS)
                with context.wrap_socket(connection, server_side=True) as tls:
                    outcome.peer = peer_node(tls, ca_cert)
                    outcome.received = tls.recv(1024)
                    tls.sendall(b"hello " + outcome.peer.name.encode())
        except BaseException as error:  # reported to the test through outcome.error
            outcome.error = error
        finally:
            outcome.done.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield listener.getsockname()[1], outcome
    finally:
        server.join(TIMEOUT_SECONDS)
        listener.close()
    assert not server.is_alive()


def _exchange(port: int, context: ssl.SSLContext, *, server_hostname: str = "localhost") -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        tls.sendall(b"ping")
        reply = tls.recv(1024)
        if not reply:
            # TLS 1.3: the client finishes its handshake before the server has judged its certificate;
            # a refusal then shows up as an alert or a closed connection on the first read.
            raise ConnectionAbortedError("the server closed the connection")
        return reply


def _assert_refused_by_server(outcome: ServerOutcome) -> None:
    assert outcome.done.wait(TIMEOUT_SECONDS)
    assert isinstance(outcome.error, ssl.SSLError), outcome.error
    assert outcome.peer is None


def test_mutual_tls_handshake_identifies_both_ends(
    tmp_path: Path, network: Authority, france: NodeCredentials, hub_server: tuple[int, ServerOutcome]
) -> None:
    _, ca_cert = network
    port, outcome = hub_server
    files = _write_node_files(tmp_path / "fra", ca_cert, france)
    context = client_ssl_context(files.ca, files.cert, files.key)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"
        assert peer_node(tls, ca_cert) == HUB
        tls.sendall(b"ping")
        assert tls.recv(1024) == b"hello fra"
    assert outcome.done.wait(TIMEOUT_SECONDS)
    assert outcome.error is None
    assert outcome.peer == FRANCE
    assert outcome.received == b"ping"


def test_server_refuses_a_client_certified_by_another_ca(
    tmp_path: Path, network: Authority, other_network: Authority, hub_server: tuple[int, ServerOutcome]
) -> None:
    _, ca_cert = network
    port, outcome = hub_server
    stranger = _enrol(other_network, FRANCE)
    # The stranger trusts the real CA, so only the server's check of its certificate can stop it.
    files = _write_node_files(tmp_path / "stranger", ca_cert, stranger)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _exchange(port, client_ssl_context(files.ca, files.cert, files.key))
    _assert_refused_by_server(outcome)
    assert isinstance(outcome.error, ssl.SSLCertVerificationError)


def test_server_refuses_a_client_without_certificate(
    hub_files: NodeFiles, hub_server: tuple[int, ServerOutcome]
) -> None:
    port, outcome = hub_server
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(cafile=hub_files.ca)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _exchange(port, anonymous)
    _assert_refused_by_server(outcome)


def test_client_refuses_a_server_certified_by_another_ca(
    tmp_path: Path, other_network: Authority, hub_server: tuple[int, ServerOutcome]
) -> None:
    _, other_ca_cert = other_network
    port, outcome = hub_server
    files = _write_node_files(tmp_path / "other", other_ca_cert, _enrol(other_network, FRANCE))
    with pytest.raises(ssl.SSLCertVerificationError):
        _exchange(port, client_ssl_context(files.ca, files.cert, files.key))
    _assert_refused_by_server(outcome)


def test_client_refuses_a_server_whose_certificate_names_another_host(
    tmp_path: Path, network: Authority, france: NodeCredentials, hub_server: tuple[int, ServerOutcome]
) -> None:
    _, ca_cert = network
    port, outcome = hub_server
    files = _write_node_files(tmp_path / "fra", ca_cert, france)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _exchange(port, client_ssl_context(files.ca, files.cert, files.key), server_hostname="deu")
    _assert_refused_by_server(outcome)
