"""A node's key material on disk, in its keys folder (mode 0700, files 0600):

- every node: ``node.key.pem`` (P-256: its TLS identity and the key it signs envelopes
  with, bound to it by its certificate), ``node-encryption.jwk.json`` (P-256: the key
  envelopes are encrypted to; its public half travels in the signed membership list),
  ``node.csr.pem`` (the request the hub signs), then ``node.pem`` and ``network-ca.pem``;
- the hub also: ``network-ca.key.pem`` and ``network-ca.pem``, the network's root of
  trust, and its own ``node.pem``, which it issues itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from polex.crypto import pki

NODE_KEY = "node.key.pem"
NODE_CSR = "node.csr.pem"
NODE_CERTIFICATE = "node.pem"
ENCRYPTION_KEY = "node-encryption.jwk.json"
CA_KEY = "network-ca.key.pem"
CA_CERTIFICATE = "network-ca.pem"


@dataclass(frozen=True)
class NodeKeyFiles:
    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def write_public(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path(name).write_bytes(data)

    # -- what a node has ------------------------------------------------------------------

    def ensure_node_keys(self, node: pki.NodeName) -> None:
        """The node's signing and encryption keys and its certificate request, made once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        if not self.has(NODE_KEY):
            pki.write_private_file(self.path(NODE_KEY), pki.private_key_pem(pki.new_private_key()))
        if not self.has(ENCRYPTION_KEY):
            key = ECKey.generate_key("P-256", parameters={"use": "enc", "kid": f"{node.name}-enc"}, private=True)
            pki.write_private_file(self.path(ENCRYPTION_KEY), json.dumps(key.as_dict(private=True)).encode())
        if not self.has(NODE_CSR):
            signing = pki.load_private_key(self.read(NODE_KEY))
            self.write_public(NODE_CSR, pki.csr_pem(pki.make_csr(signing, node)))

    def ensure_network_ca(self) -> None:
        """The hub's root of trust, made once at ``polex init --hub``."""
        if self.has(CA_KEY):
            return
        key, certificate = pki.create_network_ca()
        pki.write_private_file(self.path(CA_KEY), pki.private_key_pem(key))
        self.write_public(CA_CERTIFICATE, pki.certificate_pem(certificate))

    def encryption_jwk(self, *, private: bool = False) -> dict[str, Any]:
        key = ECKey.import_key(json.loads(self.read(ENCRYPTION_KEY)))
        return dict(key.as_dict(private=private))
