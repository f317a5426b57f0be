#!/bin/sh
# Add payivr to a natively installed Asterisk (no Docker): the same files the compose file
# mounts (asterisk/docker-compose.yml, service "asterisk"), installed into its configuration
# directory, with this machine's secrets (asterisk/init-secrets.sh) and payivr's prompts.
#
#   asterisk/install-local.sh --etc /opt/asterisk/etc/asterisk [--sounds DIR]
#
# --etc     Asterisk's configuration directory (astetcdir in asterisk.conf).
# --sounds  Asterisk's sounds directory; payivr's prompts are linked in as sounds/payivr.
#           Default: astdatadir/sounds from asterisk.conf, else PREFIX/var/lib/asterisk/sounds
#           when --etc is PREFIX/etc/asterisk.
#
# Idempotent: a file already as payivr ships it is left alone; a different one (your own
# extensions.conf, say) is kept as FILE.before-payivr the first time it is replaced. Then
# `asterisk -rx 'core reload'` (or start Asterisk). Secrets: asterisk/.secrets/ as for `make up`
# (PAYIVR_SECRETS_DIR to put them elsewhere), copied to ETC/secrets/ (mode 640, owned like ETC).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
COMPOSE="$HERE/docker-compose.yml"
SECRETS=${PAYIVR_SECRETS_DIR:-$HERE/.secrets}

usage() {
    echo "usage: $0 --etc ASTERISK_ETC_DIR [--sounds ASTERISK_SOUNDS_DIR]" >&2
    exit 2
}
fail() {
    echo "install-local.sh: $*" >&2
    exit 1
}

ETC=""
SOUNDS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --etc) [ $# -ge 2 ] || usage; ETC=$2; shift 2 ;;
        --sounds) [ $# -ge 2 ] || usage; SOUNDS=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$ETC" ] || usage
[ -d "$ETC" ] || fail "$ETC is not a directory (Asterisk's configuration directory, e.g. /etc/asterisk)"
[ -w "$ETC" ] || fail "cannot write to $ETC (run as the user that owns Asterisk's configuration)"
ETC=$(cd "$ETC" && pwd)

if [ -z "$SOUNDS" ]; then
    datadir=""
    if [ -f "$ETC/asterisk.conf" ]; then
        datadir=$(sed -n 's/^[[:space:]]*astdatadir[[:space:]]*=>\{0,1\}[[:space:]]*//p' "$ETC/asterisk.conf" | head -n 1)
    fi
    if [ -n "$datadir" ]; then
        SOUNDS="$datadir/sounds"
    else
        case "$ETC" in
            */etc/asterisk) SOUNDS="${ETC%/etc/asterisk}/var/lib/asterisk/sounds" ;;
            *) fail "cannot tell where Asterisk's sounds are: give --sounds DIR" ;;
        esac
    fi
fi

# The secrets, generated once for this machine (kept if they exist): Asterisk's snippets for
# the group of its configuration directory, payivr's for your group unless PAYIVR_GID says.
ASTERISK_GID="${ASTERISK_GID:-$(stat -c %g "$ETC")}" PAYIVR_GID="${PAYIVR_GID:-$(id -g)}" \
    sh "$HERE/init-secrets.sh" >/dev/null

install_file() {
    # install_file SOURCE DEST: copy unless identical; keep a differing DEST once.
    [ -f "$1" ] || fail "missing $1 (is this a complete payivr checkout?)"
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        return
    fi
    if [ -f "$2" ] && [ ! -e "$2.before-payivr" ]; then
        cp -p "$2" "$2.before-payivr"
        echo "kept your $2 as $2.before-payivr"
    fi
    cp "$1" "$2.payivr-new"
    chmod "$3" "$2.payivr-new"
    # Owned like the configuration directory (Asterisk often runs as its own user).
    [ "$(id -u)" != 0 ] || chown --reference="$ETC" "$2.payivr-new"
    mv "$2.payivr-new" "$2"
    echo "installed $2"
}

# The asterisk service's bind mounts into /etc/asterisk, read from the compose file itself:
#   - ./pjsip.conf:/etc/asterisk/pjsip.conf:ro
mounts=$(sed -n '/^  asterisk:/,/^  [a-z-]*:$/p' "$COMPOSE" |
    sed -n 's|^[[:space:]]*- \(\.[^:]*\):/etc/asterisk/\([^:]*\):ro[[:space:]]*$|\1 \2|p')
[ -n "$mounts" ] || fail "found no /etc/asterisk mounts in $COMPOSE"
echo "$mounts" | while read -r host name; do
    case "$host" in
        ./.secrets/*)
            mkdir -p "$ETC/$name"
            chmod 750 "$ETC/$name"
            [ "$(id -u)" != 0 ] || chown --reference="$ETC" "$ETC/$name"
            for secret in "$SECRETS/${host#./.secrets/}"/*; do
                install_file "$secret" "$ETC/$name/$(basename "$secret")" 640
            done ;;
        *) install_file "$HERE/$host" "$ETC/$name" 644 ;;
    esac
done

# payivr's prompts (mounted at /var/lib/asterisk/sounds/payivr in the compose file).
mkdir -p "$SOUNDS" || fail "cannot create $SOUNDS"
PROMPTS=$(cd "$HERE/../sounds" && pwd)
if [ "$(readlink "$SOUNDS/payivr" 2>/dev/null || true)" != "$PROMPTS" ]; then
    [ ! -e "$SOUNDS/payivr" ] || [ -L "$SOUNDS/payivr" ] ||
        fail "$SOUNDS/payivr exists and is not a link to payivr's prompts: move it away first"
    ln -sfn "$PROMPTS" "$SOUNDS/payivr"
    echo "linked $SOUNDS/payivr -> $PROMPTS"
fi

echo "payivr's Asterisk files are in $ETC (secrets in $SECRETS)."
echo "Start Asterisk, or reload it: asterisk -rx 'core reload'"
