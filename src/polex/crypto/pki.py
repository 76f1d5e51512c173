"""The polex network's PKI: the hub's CA, node keys, requests and certificates, and mutual TLS.

The hub is the root of trust. ``polex init --hub`` creates the network CA; a national node
makes a P-256 key and a certificate signing request naming itself; the hub's operator checks
the request (``read_csr`` shows who it names) and signs it; from then on every link between a
node and the hub is HTTPS with mutual TLS, each side trusting the network CA and nothing else.

A node's identity travels in its certificate as the URI ``polex:node:<name>:<country>:<role>``
in the subject alternative name, next to ``DNS:<name>``, ``DNS:localhost`` and ``IP:127.0.0.1``
(nodes run on localhost in the demo and the tests). Because every node certificate carries the
localhost names, a TLS hostname check alone cannot tell two nodes apart: whoever needs to know
*which* node is on the other end asks ``peer_node``, which also applies the revocation list.

Private keys are written as unencrypted PKCS#8 PEM: a node must start unattended, and the key
files are protected by their permissions (0600, see ``write_private_file``) as a TLS server's
key usually is. All cryptography is the ``cryptography`` library's X.509 API and Python's ``ssl``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, get_args

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

StrPath = str | os.PathLike[str]
NodeRole = Literal["hub", "national"]

NODE_URI_PREFIX = "polex:node:"
ORGANIZATION = "polex"
LOCALHOST_DNS = "localhost"
LOCALHOST_IP = ipaddress.IPv4Address("127.0.0.1")
# Clocks on different nodes drift; a certificate issued "now" must already be valid on a
# node whose clock is a few minutes behind the hub's.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=5)
# A node is a TLS server to the nodes that call it and a TLS client of the ones it calls.
NODE_KEY_USAGES = frozenset({ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH})

_NODE_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")  # also a valid DNS label
_COUNTRY = re.compile(r"[A-Z]{3}")  # ISO 3166-1 alpha-3, or an ICAO code such as XPO
_SIGNATURE_HASH = hashes.SHA256()

_ExtensionT = TypeVar("_ExtensionT", bound=x509.ExtensionType)


class CertificateRefused(Exception):
    """A certificate or signing request that this network does not accept, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NodeName:
    """Who a node is: its name (a lowercase slug such as ``fra``), country (alpha-3) and role."""

    name: str
    country: str
    role: NodeRole

    def __post_init__(self) -> None:
        if not _NODE_NAME.fullmatch(self.name):
            raise ValueError(f"node name {self.name!r} is not a lowercase slug (a-z, 0-9, '-')")
        if not _COUNTRY.fullmatch(self.country):
            raise ValueError(f"country {self.country!r} is not an upper-case alpha-3 code")
        if self.role not in get_args(NodeRole):
            raise ValueError(f"role {self.role!r} is neither 'hub' nor 'national'")

    @property
    def uri(self) -> str:
        return f"{NODE_URI_PREFIX}{self.name}:{self.country}:{self.role}"

    @classmethod
    def from_uri(cls, uri: str) -> NodeName:
        parts = uri.removeprefix(NODE_URI_PREFIX).split(":") if uri.startswith(NODE_URI_PREFIX) else []
        if len(parts) != 3:
            raise ValueError(f"{uri!r} is not of the form {NODE_URI_PREFIX}<name>:<country>:<role>")
        name, country, role = parts
        return cls(name=name, country=country, role=role)  # type: ignore[arg-type]  # __post_init__ checks the role


# Keys


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM without a passphrase: the file's 0600 permissions protect it (see the module docstring)."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"expected an elliptic-curve private key, got {type(key).__name__}")
    return key


# The network CA


def create_network_ca(
    common_name: str = "polex network CA", *, valid_days: int = 3650
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign node certificates but no further CA (path length 0)."""
    key = new_private_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    now = _utc_now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _SIGNATURE_HASH)
    )
    return key, certificate


# Signing requests


def make_csr(key: ec.EllipticCurvePrivateKey, node: NodeName) -> x509.CertificateSigningRequest:
    """A request naming ``node``. The country goes in OU, as alpha-3: C only takes ISO alpha-2, and XPO has none."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_node_subject(node))
        .add_extension(x509.SubjectAlternativeName(_node_alternative_names(node)), critical=False)
        .sign(key, _SIGNATURE_HASH)
    )


def read_csr(pem: bytes) -> tuple[x509.CertificateSigningRequest, NodeName]:
    """Load a node's request and say whom it names; refuse it unless it is one ``make_csr`` would make."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as error:
        raise CertificateRefused(f"not a PEM certificate signing request ({error})") from error
    return csr, _check_csr(csr)


def _check_csr(csr: x509.CertificateSigningRequest) -> NodeName:
    # The hub signs exactly what the request asks for, so the request must ask for nothing more
    # than its node's own names: a national node asking for DNS:hub could otherwise pose as the hub.
    try:
        signature_valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateRefused(f"unreadable certificate signing request ({error})") from error
    if not signature_valid:
        raise CertificateRefused("the signing request's signature does not match its public key")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise CertificateRefused("the signing request's key is not an elliptic-curve P-256 key")
    node = _node_from_extensions(csr.extensions, what="signing request")
    if csr.subject != _node_subject(node):
        raise CertificateRefused(f"the subject {csr.subject.rfc4514_string()} does not match {node.uri}")
    alternative_names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if set(alternative_names) != set(_node_alternative_names(node)):
        raise CertificateRefused(f"the subject alternative names ask for more or other names than {node.uri}'s")
    return node


# Node certificates


def issue_node_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    csr: x509.CertificateSigningRequest,
    *,
    valid_days: int = 365,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign a node's request: a TLS client and server certificate for the node it names.

    The request is checked again (``CertificateRefused``) so that nothing unchecked is ever
    signed, whoever calls this. The certificate ends no later than the CA does.
    """
    _check_csr(csr)
    if ca_key.public_key().public_numbers() != _ec_public_key(ca_cert).public_numbers():
        raise ValueError("the CA key does not belong to the CA certificate")
    issued_at = _as_utc(now) if now is not None else _utc_now()
    not_valid_after = min(issued_at + dt.timedelta(days=valid_days), ca_cert.not_valid_after_utc)
    alternative_names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued_at - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(not_valid_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(sorted(NODE_KEY_USAGES, key=lambda usage: usage.dotted_string)), critical=False
        )
        .add_extension(alternative_names, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public_key(ca_cert)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .sign(ca_key, _SIGNATURE_HASH)
    )


def verify_node_certificate(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    *,
    at: dt.datetime | None = None,
    revoked_serials: Mapping[int, str] | None = None,
) -> NodeName:
    """The node ``cert`` names, if this network's CA issued it, it is valid ``at`` (default: now) and not revoked.

    ``revoked_serials`` maps a revoked certificate's serial number to the reason it was revoked.
    """
    if cert.issuer != ca_cert.subject:
        raise CertificateRefused(f"not issued by this network's CA (issuer {cert.issuer.rfc4514_string()})")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise CertificateRefused("not issued by this network's CA (its signature does not verify)") from error

    basic_constraints = _extension(cert, x509.BasicConstraints)
    if basic_constraints is None:
        raise CertificateRefused("not a polex node certificate (it has no basic constraints)")
    if basic_constraints.ca:
        raise CertificateRefused("not a polex node certificate (it is a CA certificate)")
    extended_key_usage = _extension(cert, x509.ExtendedKeyUsage)
    if extended_key_usage is None or not NODE_KEY_USAGES.issubset(extended_key_usage):
        raise CertificateRefused("not a polex node certificate (not for both TLS client and server authentication)")
    node = _node_from_extensions(cert.extensions, what="node certificate")

    moment = _as_utc(at) if at is not None else _utc_now()
    if moment < cert.not_valid_before_utc:
        raise CertificateRefused(f"not valid before {_when(cert.not_valid_before_utc)}")
    if moment > cert.not_valid_after_utc:
        raise CertificateRefused(f"expired on {_when(cert.not_valid_after_utc)}")
    if revoked_serials is not None and cert.serial_number in revoked_serials:
        raise CertificateRefused(f"revoked: {revoked_serials[cert.serial_number]}")
    return node


# PEM and fingerprints


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise CertificateRefused(f"not a PEM X.509 certificate ({error})") from error


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex: what an operator compares out of band."""
    return cert.fingerprint(hashes.SHA256()).hex()


# TLS


def server_ssl_context(
    ca_cert_path: StrPath, cert_path: StrPath, key_path: StrPath, *, require_client_certificate: bool = True
) -> ssl.SSLContext:
    """TLS 1.3 server context trusting only the network CA for client certificates.

    Without ``require_client_certificate`` a client may still present one, and it is then
    verified all the same. Revocation is not known to OpenSSL here: check ``peer_node``.
    For uvicorn, pass ``ssl_context_factory=lambda config, default: server_ssl_context(...)``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    context.load_cert_chain(certfile=cert_path, keyfile=key_path)
    context.load_verify_locations(cafile=ca_cert_path)
    context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    return context


def client_ssl_context(
    ca_cert_path: StrPath, cert_path: StrPath | None = None, key_path: StrPath | None = None
) -> ssl.SSLContext:
    """TLS 1.3 client context: checks the server against the network CA only, and presents the node's certificate.

    Without ``cert_path`` (a node not enrolled yet, which holds the CA's certificate from its
    operator) it presents none.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    _harden(context)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if cert_path is not None:
        context.load_cert_chain(certfile=cert_path, keyfile=key_path)
    context.load_verify_locations(cafile=ca_cert_path)
    return context


def peer_node(
    ssl_object_or_der_cert: ssl.SSLObject | ssl.SSLSocket | bytes,
    ca_cert: x509.Certificate,
    *,
    revoked_serials: Mapping[int, str] | None = None,
) -> NodeName:
    """The node on the other end of an established TLS connection, checked against the CA and revocations."""
    if isinstance(ssl_object_or_der_cert, bytes):
        der: bytes | None = ssl_object_or_der_cert
    else:
        der = ssl_object_or_der_cert.getpeercert(binary_form=True)
    if not der:
        raise CertificateRefused("the peer presented no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise CertificateRefused(f"the peer's certificate is not valid DER ({error})") from error
    return verify_node_certificate(cert, ca_cert, revoked_serials=revoked_serials)


# Files


def write_private_file(path: StrPath, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600), atomically: readers see the old file or the whole new one."""
    target = Path(path)
    # mkstemp creates the file 0600 from the start, so the key is never readable by others, even briefly.
    descriptor, temporary_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as temporary:
            os.fchmod(temporary.fileno(), 0o600)
            temporary.write(data)
            temporary.flush()
            os.fsync(temporary.fileno())
        os.replace(temporary_name, target)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise


# Helpers


def _node_subject(node: NodeName) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, node.name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, node.country),
        ]
    )


def _node_alternative_names(node: NodeName) -> list[x509.GeneralName]:
    return [
        x509.DNSName(node.name),
        x509.UniformResourceIdentifier(node.uri),
        x509.DNSName(LOCALHOST_DNS),
        x509.IPAddress(LOCALHOST_IP),
    ]


def _node_from_extensions(extensions: x509.Extensions, *, what: str) -> NodeName:
    try:
        alternative_names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as error:
        raise CertificateRefused(f"not a polex {what} (no subject alternative name)") from error
    node_uris = [
        uri for uri in alternative_names.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith("polex:")
    ]
    if len(node_uris) != 1:
        raise CertificateRefused(f"not a polex {what} (it must name exactly one {NODE_URI_PREFIX} URI)")
    try:
        return NodeName.from_uri(node_uris[0])
    except ValueError as error:
        raise CertificateRefused(f"not a polex {what} ({error})") from error


def _extension(cert: x509.Certificate, kind: type[_ExtensionT]) -> _ExtensionT | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _ec_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the CA certificate's key is not an elliptic-curve key")
    return key


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _harden(context: ssl.SSLContext) -> None:
    # TLS 1.3 only: every polex node runs this code, so there is no older peer to accommodate.
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    # Strict RFC 5280 checks reject malformed certificates OpenSSL would otherwise tolerate.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.options |= ssl.OP_NO_COMPRESSION


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous here: give it a time zone (UTC)")
    return moment.astimezone(dt.UTC)


def _when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
