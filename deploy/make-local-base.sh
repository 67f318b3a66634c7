#!/usr/bin/env bash
# Makes a local stand-in for node:20-bookworm-slim, for machines that reach no image registry:
# a Debian bookworm root (the one scripts/setup.mjs made with debootstrap for the python3 runtime
# when it exists, else a minimal one made here with debootstrap) with this machine's Node 20 and
# npm copied in. Build the platform image on it with --build-arg BASE=<the name printed>.
#
# Usage: deploy/make-local-base.sh [NAME]     (default pratai/base-node20:bookworm)
# Needs: Docker; this machine on Debian bookworm with Node 20 (the node_modules copied into the
# platform image hold native modules built here, for this glibc and this Node); root for debootstrap.
set -euo pipefail

name=${1:-pratai/base-node20:bookworm}
debian=${PRATAI_DEBIAN_BASE_IMAGE:-pratai/base-python3:bookworm}

if docker image inspect "$name" >/dev/null 2>&1; then
  echo "$name"
  exit 0
fi

node_bin=$(readlink -f "$(command -v node)")
case "$("$node_bin" --version)" in
  v20.*) ;;
  *) echo "make-local-base: Node 20 is needed, this machine has $("$node_bin" --version)" >&2; exit 1 ;;
esac
if ! grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release; then
  echo 'make-local-base: this machine is not Debian bookworm; its Node and native modules would not fit the base' >&2
  exit 1
fi
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect "$debian" >/dev/null 2>&1; then
  debian=pratai/base-debian:bookworm
  if ! docker image inspect "$debian" >/dev/null 2>&1; then
    echo "make-local-base: making $debian with debootstrap (about a minute)" >&2
    command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
    # No mirror argument: debootstrap's default mirror.
    debootstrap --variant=minbase bookworm "$work/root" >/dev/null
    rm -rf "$work/root/var/cache/apt/archives" "$work/root/var/lib/apt/lists"
    tar -C "$work/root" -c . | docker import - "$debian" >/dev/null
    rm -rf "$work/root"
  fi
fi

mkdir "$work/context"
cp "$node_bin" "$work/context/node"
cp -a "$npm_dir" "$work/context/npm"
cat > "$work/context/Dockerfile" <<'DOCKERFILE'
ARG DEBIAN
FROM ${DEBIAN}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
DOCKERFILE
echo "make-local-base: building $name on $debian with Node $("$node_bin" --version)" >&2
docker build -q -t "$name" --build-arg DEBIAN="$debian" "$work/context" >/dev/null
echo "$name"
