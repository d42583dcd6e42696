#!/usr/bin/env python3
"""The one certificate generator of the dev environment (hack/dev-up.sh,
hack/node-up.sh). Run it with the tool venv's python (it has `cryptography`):

    moto-python hack/pki.py control-plane DIR   # a new CA and everything it signs
    moto-python hack/pki.py kubelet-client DIR  # only the kube-apiserver's kubelet
                                                # client cert, by the CA in DIR
    moto-python hack/pki.py s3 DIR              # the S3 CA and MinIO's server cert
    moto-python hack/pki.py node DIR CA_DIR NODE_NAME
                                                # the node's certs, by the CA in CA_DIR

Files (RSA 2048, SHA-256, valid 10 years from 5 minutes ago; keys PKCS#8 PEM,
mode 0600; certificates mode 0644 less the umask):

  control-plane  ca.crt/key            CN=s3c-dev-ca (CA: keyCertSign, cRLSign)
                 apiserver.crt/key     CN=kube-apiserver, server, SAN IP:127.0.0.1 DNS:localhost
                 admin.crt/key         O=system:masters CN=s3c-dev-admin, client
                 apiserver-kubelet-client.crt/key
                                       O=system:masters CN=kube-apiserver-kubelet-client,
                                       client (kubeadm's name; the kubelet's webhook
                                       authorization allows system:masters)
                 sa.key/sa.pub         the ServiceAccount token signing key
  s3             s3-ca.crt/key         CN=s3c-dev-s3-ca, a second CA only for MinIO, so
                                       trusting it and trusting the kube-apiserver's CA
                                       are different facts a test can tell apart
                 minio.crt/key         CN=minio, server, SAN IP:127.0.0.1 DNS:localhost
  node           kubelet.crt/key       CN=NODE_NAME, server, SAN DNS:NODE_NAME IP:127.0.0.1
                 kubelet-client.crt/key
                                       O=system:nodes CN=system:node:NODE_NAME, client
                 controller-manager.crt/key
                                       CN=system:kube-controller-manager, client
                 scheduler.crt/key     CN=system:kube-scheduler, client

Every certificate has subject and authority key identifiers; leaf
certificates have basicConstraints CA:FALSE, keyUsage (critical)
digitalSignature + keyEncipherment and one extendedKeyUsage. Prints the
files it wrote.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
LOCALHOST = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]


class CA:
    def __init__(self, key: rsa.RSAPrivateKey, cert: x509.Certificate):
        self.key, self.cert = key, cert


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write(path: str, data: bytes, mode: int | None = None) -> None:
    """Write DATA to PATH; with MODE, the file never has wider permissions."""
    if mode is None:
        with open(path, "wb") as f:
            f.write(data)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
    print(f"wrote {path}")


def write_key(path: str, key: rsa.RSAPrivateKey) -> None:
    write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()), 0o600)


def write_pair(d: str, base: str, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    write_key(os.path.join(d, base + ".key"), key)
    write(os.path.join(d, base + ".crt"), cert.public_bytes(serialization.Encoding.PEM))


def builder(subject: x509.Name, issuer: x509.Name, pub) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(minutes=5))
            .not_valid_after(NOW + datetime.timedelta(days=3650)))


def key_ids(b: x509.CertificateBuilder, pub, issuer_pub) -> x509.CertificateBuilder:
    return (b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False))


def new_ca(d: str, base: str, cn: str) -> CA:
    """A self-signed CA written to D/BASE.crt and D/BASE.key."""
    key = new_key()
    cert = (key_ids(builder(name(cn), name(cn), key.public_key()), key.public_key(), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    write_pair(d, base, key, cert)
    return CA(key, cert)


def load_ca(d: str, base: str) -> CA:
    with open(os.path.join(d, base + ".key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, base + ".crt"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return CA(key, cert)


def issue(ca: CA, d: str, base: str, subject: x509.Name, eku, sans: list | None = None) -> None:
    """A leaf certificate signed by CA, written to D/BASE.crt and D/BASE.key."""
    key = new_key()
    b = (builder(subject, ca.cert.subject, key.public_key())
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=True, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    b = key_ids(b, key.public_key(), ca.key.public_key())
    write_pair(d, base, key, b.sign(ca.key, hashes.SHA256()))


def kubelet_client(ca: CA, d: str) -> None:
    issue(ca, d, "apiserver-kubelet-client", name("kube-apiserver-kubelet-client", "system:masters"), CLIENT)


def control_plane(d: str) -> None:
    ca = new_ca(d, "ca", "s3c-dev-ca")
    issue(ca, d, "apiserver", name("kube-apiserver"), SERVER, LOCALHOST)
    issue(ca, d, "admin", name("s3c-dev-admin", "system:masters"), CLIENT)
    kubelet_client(ca, d)
    sa = new_key()
    write_key(os.path.join(d, "sa.key"), sa)
    write(os.path.join(d, "sa.pub"), sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def s3(d: str) -> None:
    ca = new_ca(d, "s3-ca", "s3c-dev-s3-ca")
    issue(ca, d, "minio", name("minio"), SERVER, LOCALHOST)


def node(d: str, ca_dir: str, node_name: str) -> None:
    ca = load_ca(ca_dir, "ca")
    issue(ca, d, "kubelet", name(node_name), SERVER,
          [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    issue(ca, d, "kubelet-client", name("system:node:" + node_name, "system:nodes"), CLIENT)
    issue(ca, d, "controller-manager", name("system:kube-controller-manager"), CLIENT)
    issue(ca, d, "scheduler", name("system:kube-scheduler"), CLIENT)


def main(argv: list[str]) -> None:
    usage = __doc__.split("\n\n")[1]
    if len(argv) < 2:
        sys.exit("usage:\n" + usage)
    cmd, args = argv[1], argv[2:]
    if cmd == "control-plane" and len(args) == 1:
        control_plane(args[0])
    elif cmd == "kubelet-client" and len(args) == 1:
        kubelet_client(load_ca(args[0], "ca"), args[0])
    elif cmd == "s3" and len(args) == 1:
        s3(args[0])
    elif cmd == "node" and len(args) == 3:
        node(*args)
    else:
        sys.exit("usage:\n" + usage)


if __name__ == "__main__":
    main(sys.argv)
