#!/bin/sh
# Asterisk's core sounds (digits, numbers, "beep"; English and Spanish) and music on hold,
# which the andrius/asterisk image leaves out. payivr reads amounts and digits with the
# number:/digits: media these provide. Run once by the asterisk-sounds service; idempotent.
set -eu
BASE=https://downloads.asterisk.org/pub/telephony/sounds/releases

fetch() {
    dir=$1
    tarball=$2
    if [ -f "$dir/.$tarball" ]; then
        return
    fi
    mkdir -p "$dir"
    echo "fetching $tarball"
    curl -fsSL "$BASE/$tarball" | tar -xzf - -C "$dir"
    touch "$dir/.$tarball"
}

fetch /sounds/en asterisk-core-sounds-en-wav-1.6.1.tar.gz
fetch /sounds/es asterisk-core-sounds-es-wav-1.6.1.tar.gz
fetch /moh asterisk-moh-opsound-wav-2.03.tar.gz
chown -R 1000:1000 /sounds /moh
