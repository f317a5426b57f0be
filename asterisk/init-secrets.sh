#!/bin/sh
# Secrets for the compose setup, generated once per machine into asterisk/.secrets/
# (git-ignored), so no password in this repository works on anyone's PBX. Run by `make up`;
# running it again keeps existing secrets and only re-renders the SIP transport addresses.
#
#   ASTERISK_EXTERNAL_ADDRESS=203.0.113.7 asterisk/init-secrets.sh   # phones on other hosts
#
# Files are world-readable inside a directory only you should share: Asterisk runs as uid
# 1000 in its container and reads them through a bind mount.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${PAYIVR_SECRETS_DIR:-$HERE/.secrets}
mkdir -p "$OUT/asterisk"
chmod 755 "$OUT" "$OUT/asterisk"

new_secret() {
    # 24 random bytes as 48 hex characters: safe in URLs and in Asterisk's config syntax.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

secret_file() {
    # Create $OUT/$1 with a new secret unless it exists; print the secret.
    if [ ! -s "$OUT/$1" ]; then
        new_secret > "$OUT/$1"
        chmod 644 "$OUT/$1"
    fi
    cat "$OUT/$1"
}

render() {
    # render FILE CONTENT: write an Asterisk snippet under $OUT/asterisk.
    printf '%s\n' "$2" > "$OUT/asterisk/$1"
    chmod 644 "$OUT/asterisk/$1"
}

AMI_SECRET=$(secret_file ami_secret)
ARI_PASSWORD=$(secret_file ari_password)
POSTGRES_PASSWORD=$(secret_file postgres_password)
SIP_1001=$(secret_file sip_1001_password)
SIP_1002=$(secret_file sip_1002_password)

printf 'postgresql://payivr:%s@postgres:5432/payivr\n' "$POSTGRES_PASSWORD" > "$OUT/database_url"
chmod 644 "$OUT/database_url"

render ami-payivr.conf "secret = $AMI_SECRET"
render ari-payivr.conf "password = $ARI_PASSWORD"
render pjsip-1001.conf "password = $SIP_1001"
render pjsip-1002.conf "password = $SIP_1002"
if [ -n "${ASTERISK_EXTERNAL_ADDRESS:-}" ]; then
    render pjsip-transport.conf "external_media_address = $ASTERISK_EXTERNAL_ADDRESS
external_signaling_address = $ASTERISK_EXTERNAL_ADDRESS
local_net = 10.0.0.0/8
local_net = 172.16.0.0/12
local_net = 192.168.0.0/16"
else
    render pjsip-transport.conf "; no ASTERISK_EXTERNAL_ADDRESS: phones on this host only"
fi

echo "secrets in $OUT (softphone passwords: $OUT/sip_1001_password, $OUT/sip_1002_password)"
