"""Token minting for the auth and namespace suites, independent of the hub:
HS256 with hmac/hashlib, RS256 and ES256 with the openssl CLI (ES256's DER
signature converted to the raw R||S that JWS wants, RFC 7518 §3.4), and the
hub's own `wshub token` for comparison. Not a JWT library: it signs whatever
header and claims a test asks for, including the malformed ones."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

from hubproc import hub_binary

# HS256 secrets must be at least 32 bytes (RFC 7518 §3.2).
SECRET = "integration-secret-0123456789abcdef"
SECRET2 = "integration-secret-rotated-9876543210"


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def signing_input(header, claims):
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    c = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    return b64url(h) + "." + b64url(c)


def hs256(claims, secret=SECRET, header=None):
    """A token signed with HMAC-SHA256 over header.claims."""
    head = {"alg": "HS256", "typ": "JWT"} if header is None else header
    si = signing_input(head, claims)
    key = secret.encode() if isinstance(secret, str) else secret
    return si + "." + b64url(hmac.new(key, si.encode(), hashlib.sha256).digest())


def claims(user="alice", ttl=3600, subs=None, pubs=None, **extra):
    now = int(time.time())
    c = {"sub": user, "iat": now}
    if ttl is not None:
        c["exp"] = now + ttl
    if subs is not None:
        c["subs"] = subs
    if pubs is not None:
        c["pubs"] = pubs
    c.update(extra)
    return c


class KeyDir:
    """RSA-2048 and EC P-256 key pairs made by the openssl CLI in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wshub-keys-")
        self.rsa = self._pair("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        self.ec = self._pair("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])

    def _pair(self, name, opts):
        priv = os.path.join(self.dir, name + ".key")
        pub = os.path.join(self.dir, name + ".pem")
        subprocess.run(["openssl", "genpkey"] + opts + ["-out", priv], check=True, capture_output=True, timeout=60)
        subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True, capture_output=True,
                       timeout=60)
        return priv, pub

    def sign(self, alg, claims_doc, header=None):
        """RS256 or ES256 with the matching private key, by `openssl dgst`."""
        priv = self.rsa[0] if alg == "RS256" else self.ec[0]
        si = signing_input(header or {"alg": alg, "typ": "JWT"}, claims_doc)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", priv], input=si.encode(), check=True,
                             capture_output=True, timeout=60).stdout
        if alg == "ES256":
            sig = der_to_raw(sig)
        return si + "." + b64url(sig)

    def public_pem(self, alg):
        with open(self.rsa[1] if alg == "RS256" else self.ec[1], "rb") as f:
            return f.read()

    def cleanup(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def der_to_raw(der):
    """ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to 32-byte R || S."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out


def wshub_token(*args):
    """Runs `wshub token ARGS` and returns the token it prints."""
    r = subprocess.run([hub_binary(), "token"] + list(args), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()
