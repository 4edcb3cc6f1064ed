#!/usr/bin/env bash
# Make a throwaway X.509 PKI for tests and benchmarks, with openssl only.
#
#   make-test-pki.sh OUTDIR [--trust CAFILE]
#
# OUTDIR must not exist yet (or be empty).  It receives:
#   ca/              ca-cert.pem ca-key.pem          a test CA
#   server/          ca-cert.pem server-cert.pem server-key.pem
#                    (SANs localhost, 127.0.0.1, ::1; the layout nbdkit
#                    --tls-certificates and qemu tls-creds-x509 read)
#   client/          ca-cert.pem client-cert.pem client-key.pem
#                    (a client of the test CA; libnbd/qemu bundle layout)
#   foreign-ca/      ca-cert.pem ca-key.pem          a second, unrelated CA
#   foreign-client/  ca-cert.pem client-cert.pem client-key.pem
#                    (client certificate signed by foreign-ca)
#   self-signed/     ca-cert.pem client-cert.pem client-key.pem
#                    (a client certificate that signs itself)
#
# The ca-cert.pem in foreign-client/ and self-signed/ is the CA the
# *client* uses to check the server.  By default that is ca/ca-cert.pem;
# --trust CAFILE puts another CA there (haven's pki/ca-cert.pem), so that
# the client accepts haven's server certificate and any refusal seen in a
# test comes from the server rejecting the client certificate.
#
# Everything is generated here and now; no key is ever committed.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [--trust CAFILE]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
out=$1; shift
trust=
while [[ $# -gt 0 ]]; do
    case $1 in
    --trust) [[ $# -ge 2 ]] || usage; trust=$2; shift 2 ;;
    *) usage ;;
    esac
done
if [[ -n $trust && ! -r $trust ]]; then
    echo "$0: cannot read $trust" >&2; exit 1
fi
if [[ -e $out && -n "$(ls -A "$out" 2>/dev/null)" ]]; then
    echo "$0: $out exists and is not empty" >&2; exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
umask 077
days=30

# newkey FILE: a P-256 key in PKCS#8 PEM (GnuTLS and OpenSSL read it).
newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

# make_ca DIR CN
make_ca() {
    mkdir -p "$1"
    newkey "$1/ca-key.pem"
    openssl req -x509 -new -key "$1/ca-key.pem" -sha256 -days "$days" \
        -subj "/O=haven tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$1/ca-cert.pem"
}

# sign CADIR KEY CERT CN EXTFILE
sign() {
    local csr=$3.csr
    openssl req -new -key "$2" -subj "/O=haven tests/CN=$4" -out "$csr"
    openssl x509 -req -in "$csr" -CA "$1/ca-cert.pem" -CAkey "$1/ca-key.pem" \
        -CAcreateserial -CAserial "$1/ca-cert.srl" -sha256 -days "$days" \
        -extfile "$5" -out "$3" 2>/dev/null
    rm -f "$csr"
}

ext=$(mktemp "$out/ext.XXXXXX")
trap 'rm -f "$ext"' EXIT

make_ca "$out/ca" "haven test CA"
make_ca "$out/foreign-ca" "foreign test CA"
trust=${trust:-$out/ca/ca-cert.pem}

# Server: the SANs cover every name a test dials.
mkdir -p "$out/server"
newkey "$out/server/server-key.pem"
cat >"$ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
sign "$out/ca" "$out/server/server-key.pem" "$out/server/server-cert.pem" \
    localhost "$ext"
cp "$out/ca/ca-cert.pem" "$out/server/ca-cert.pem"

cat >"$ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT

# client BUNDLEDIR CADIR CN TRUSTFILE
client() {
    mkdir -p "$1"
    newkey "$1/client-key.pem"
    sign "$2" "$1/client-key.pem" "$1/client-cert.pem" "$3" "$ext"
    cp "$4" "$1/ca-cert.pem"
}
client "$out/client" "$out/ca" "test client" "$out/ca/ca-cert.pem"
client "$out/foreign-client" "$out/foreign-ca" "foreign client" "$trust"

# A self-signed client certificate: its own issuer, known to nobody.
mkdir -p "$out/self-signed"
newkey "$out/self-signed/client-key.pem"
openssl req -x509 -new -key "$out/self-signed/client-key.pem" -sha256 \
    -days "$days" -subj "/O=haven tests/CN=self-signed client" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=clientAuth" \
    -out "$out/self-signed/client-cert.pem"
cp "$trust" "$out/self-signed/ca-cert.pem"

# Certificates are public; keys stay 0600.
chmod 0644 "$out"/*/*-cert.pem
chmod 0755 "$out"/*
