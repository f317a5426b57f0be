#!/bin/sh
# Secrets for the compose setup, generated once per machine into asterisk/.secrets/
# (git-ignored), so no password in this repository works on anyone's PBX. Run by `make up`;
# running it again keeps existing secrets and only re-renders the SIP transport addresses.
#
#   ASTERISK_EXTERNAL_ADDRESS=203.0.113.7 asterisk/init-secrets.sh   # phones on other hosts
#
# No file is readable by everyone (the ARI password alone yields every digit a caller keys):
#   asterisk/*.conf                              0640, group ASTERISK_GID (Asterisk reads them)
#   ami_secret ari_password database_url         0640, group PAYIVR_GID (payivr's container)
#   database_migrate_url                         0640, group PAYIVR_GID (payivr-migrate's only)
#   postgres_password runtime_password           0600 (PostgreSQL's entrypoint and the
#   sip_100x_password                                  database-roles service read as root;
#                                                      the softphone passwords are yours)
# database_url is payivr's runtime role (payivr_runtime), which cannot alter the audit trail;
# database_migrate_url the owner (payivr), which migrates (README, Security: database roles).
# Files belong to you (to $SUDO_UID under sudo). Giving them to those groups needs root, or
# membership of them: `make up` runs this script with sudo when you are not root.
#   ASTERISK_GID  the group the PBX runs as: 1000 in the andrius/asterisk image (user asterisk)
#   PAYIVR_GID    the group payivr's container runs as: 10001 (see ../Dockerfile)
set -eu
umask 077
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${PAYIVR_SECRETS_DIR:-$HERE/.secrets}
ASTERISK_GID=${ASTERISK_GID:-1000}
PAYIVR_GID=${PAYIVR_GID:-10001}
OWNER=${SUDO_UID:-$(id -u)}
OWNER_GID=${SUDO_GID:-$(id -g)}
mkdir -p "$OUT/asterisk"

protect() {
    # protect MODE GROUP PATH...: owner $OWNER, that group and mode, or stop with the reason.
    mode=$1 group=$2
    shift 2
    if ! chown "$OWNER:$group" "$@" 2>/dev/null; then
        echo "init-secrets.sh: cannot give $* to group $group: run it as root" \
            "(sudo sh $0) or as a member of that group" >&2
        exit 1
    fi
    chmod "$mode" "$@"
}

# Listed by no one else; Asterisk's group may enter the directory mounted into its container.
protect 711 "$OWNER_GID" "$OUT"
protect 750 "$ASTERISK_GID" "$OUT/asterisk"

new_secret() {
    # 24 random bytes as 48 hex characters: safe in URLs and in Asterisk's config syntax.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

secret_file() {
    # Create $OUT/$1 with a new secret unless it exists; print the secret.
    if [ ! -s "$OUT/$1" ]; then
        new_secret > "$OUT/$1"
    fi
    cat "$OUT/$1"
}

render() {
    # render FILE CONTENT: write an Asterisk snippet under $OUT/asterisk.
    printf '%s\n' "$2" > "$OUT/asterisk/$1"
    protect 640 "$ASTERISK_GID" "$OUT/asterisk/$1"
}

AMI_SECRET=$(secret_file ami_secret)
ARI_PASSWORD=$(secret_file ari_password)
POSTGRES_PASSWORD=$(secret_file postgres_password)
RUNTIME_PASSWORD=$(secret_file runtime_password)
SIP_1001=$(secret_file sip_1001_password)
SIP_1002=$(secret_file sip_1002_password)

printf 'postgresql://payivr_runtime:%s@postgres:5432/payivr\n' "$RUNTIME_PASSWORD" \
    > "$OUT/database_url"
printf 'postgresql://payivr:%s@postgres:5432/payivr\n' "$POSTGRES_PASSWORD" \
    > "$OUT/database_migrate_url"
protect 640 "$PAYIVR_GID" "$OUT/ami_secret" "$OUT/ari_password" "$OUT/database_url" \
    "$OUT/database_migrate_url"
protect 600 "$OWNER_GID" "$OUT/postgres_password" "$OUT/runtime_password" \
    "$OUT/sip_1001_password" "$OUT/sip_1002_password"

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
