#!/bin/sh
# Regenerates the identity test keys and their JWKS documents. The outputs are committed;
# run this only to replace them (every test that mints tokens picks up the new keys).
set -eu
cd "$(dirname "$0")"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-1.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-2.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec-p256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec-p384.pem
openssl genpkey -algorithm ED25519 -out ed25519.pem
openssl pkey -in rsa-1.pem -pubout -out rsa-1.pub.pem

python3 - <<'PY'
import base64, json, subprocess

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def der_pub(path):
    return subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                          check=True, capture_output=True).stdout

def rsa(path):
    out = subprocess.run(["openssl", "rsa", "-in", path, "-noout", "-modulus"],
                         check=True, capture_output=True, text=True).stdout
    n = bytes.fromhex(out.strip().split("=", 1)[1])
    return {"kty": "RSA", "n": b64(n), "e": "AQAB"}

def ec(path, crv, size):
    point = der_pub(path)[-(1 + 2 * size):]
    assert point[0] == 4
    return {"kty": "EC", "crv": crv, "x": b64(point[1:1 + size]), "y": b64(point[1 + size:])}

def ed(path):
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(der_pub(path)[-32:])}

def key(base, **extra):
    k = dict(base)
    k.update(extra)
    return k

rsa1, rsa2 = rsa("rsa-1.pem"), rsa("rsa-2.pem")
jwks = {"keys": [
    key(rsa1, kid="rsa-1", use="sig"),
    key(rsa1, kid="rsa-1-rs256", use="sig", alg="RS256"),
    key(rsa2, kid="rsa-enc", use="enc", alg="RSA-OAEP"),
    key(ec("ec-p256.pem", "P-256", 32), kid="ec-p256", use="sig", alg="ES256"),
    key(ec("ec-p384.pem", "P-384", 48), kid="ec-p384", use="sig", alg="ES384"),
    key(ed("ed25519.pem"), kid="ed-1", use="sig", alg="EdDSA"),
]}
rotated = {"keys": [
    key(rsa2, kid="rsa-2", use="sig", alg="RS256"),
    key(ec("ec-p256.pem", "P-256", 32), kid="ec-p256", use="sig", alg="ES256"),
]}
for name, doc in (("jwks.json", jwks), ("jwks-rotated.json", rotated)):
    with open(name, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
PY
