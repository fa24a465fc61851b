#!/usr/bin/env bash
# Installs contrib/spark/requirements.txt (PySpark) into a venv cached under
# $KAPTURE_SPARK_CACHE (default ~/.cache/kapture-spark) and prints the venv's python.
# A venv whose pinned requirements are already installed is reused as it is: on a
# warm cache this takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${KAPTURE_SPARK_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kapture-spark}
req=contrib/spark/requirements.txt
# The venv is named after the requirements' contents, so a new pin gets a new venv.
dir="$cache/venv-$(grep -v '^#' "$req" | sha256sum | cut -c1-12)"
if [ -x "$dir/bin/python" ] && [ -f "$dir/.installed" ]; then
    echo "$dir/bin/python"
    exit 0
fi
rm -rf "$dir"
mkdir -p "$cache"
python3 -m venv "$dir"
t=$SECONDS
"$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
touch "$dir/.installed"
echo "spark venv: installed $req in $((SECONDS - t)) s ($(du -sh "$dir" | cut -f1))" >&2
echo "$dir/bin/python"
