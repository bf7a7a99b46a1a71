#!/usr/bin/env bash
# The container check of CI, and its parts (run as root on a Debian machine without any registry):
#   .ci/docker.sh ci                  everything below, each step timed
#   .ci/docker.sh base-image [NAME]   debootstrap a Debian bookworm rootfs and `docker import` it (skipped when
#                                     NAME, default xstilts-base:bookworm, exists)
# `ci`: installs the Docker engine (Debian's docker.io) and debootstrap when absent; starts dockerd when no
# engine answers (stopped again by its pid on exit); builds the local base and the CPU image on it
# (`make image`); checks that the host's CA bundle did not reach the image; runs the smoke experiment
# locally and with `docker run` and compares every metrics.json byte for byte; runs the docker-marked tests.
# Environment: XSTILTS_CI_IMAGE (xstilts:ci), XSTILTS_BASE_IMAGE (xstilts-base:bookworm), DEBIAN_MIRROR,
# XSTILTS_DOCKER_ROOT (dockerd's data root when started here, default /var/lib/docker: layers stay cached).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=$ROOT/.xstilts/docker-ci
IMAGE=${XSTILTS_CI_IMAGE:-xstilts:ci}
BASE_IMAGE=${XSTILTS_BASE_IMAGE:-xstilts-base:bookworm}
PY=$(command -v python3.11 || command -v python3)
TIMES=()

say() { echo "== docker-ci: $*"; }

# step NAME COMMAND...: run it, remember its seconds.
step() {
    local name=$1 start=$SECONDS
    shift
    say "$name"
    "$@"
    TIMES+=("$(printf '%-28s %5d s' "$name" $((SECONDS - start)))")
}

report_times() {
    say "seconds per step"
    local line
    for line in "${TIMES[@]}"; do echo "   $line"; done
}

# The Debian mirror this machine's apt uses (plain http works inside builds where https may not).
mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* \
        2>/dev/null | head -n1 | awk '{print $2}' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

install_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]} from Debian's packages"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

# Start dockerd unless an engine answers; the trap stops only the one started here, by its pid.
DOCKERD_PID=""
start_engine() {
    if docker info >/dev/null 2>&1; then
        say "a Docker engine is running already; using it"
        return
    fi
    mkdir -p "$STATE"
    dockerd --pidfile "$STATE/dockerd.pid" --data-root "${XSTILTS_DOCKER_ROOT:-/var/lib/docker}" \
        >"$STATE/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    local i
    for i in $(seq 60); do
        if docker info >/dev/null 2>&1; then
            say "dockerd started (pid $DOCKERD_PID, log $STATE/dockerd.log)"
            return
        fi
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 1
    done
    tail -n 20 "$STATE/dockerd.log" >&2
    echo "error: dockerd did not come up; its log: $STATE/dockerd.log" >&2
    exit 2
}

# On exit (trap in `ci`): stop the dockerd started here, print the seconds of each step.
finish() {
    local rc=$?
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        say "stopping dockerd (pid $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID"
        local i
        for i in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
    fi
    report_times
    exit $rc
}

# A minimal Debian bookworm rootfs from the mirror, imported as an image; apt inside it uses plain http.
base_image() {
    local name=${1:-$BASE_IMAGE}
    if docker image inspect "$name" >/dev/null 2>&1; then
        say "base image $name exists; kept"
        return
    fi
    command -v debootstrap >/dev/null || install_tools
    local url rootfs
    url=$(mirror)
    rootfs=$(mktemp -d /tmp/xstilts-rootfs.XXXXXX)
    say "debootstrap bookworm from $url into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$url" >"$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log" >&2; rm -rf "$rootfs"; echo "error: debootstrap failed; see above" >&2; exit 2; }
    local security=${url%/debian}/debian-security
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
        "$url" "$url" "$security" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' -m "debootstrap --variant=minbase bookworm $url" - "$name"
    rm -rf "$rootfs" "$rootfs.log"
}

# The host's CA bundle is handed to the build stage only: no file of the image may equal it.
check_no_host_bundle() {
    local bundle=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
    [ -s "$bundle" ] || { say "no host CA bundle; nothing to check"; return; }
    local size sum found
    size=$(stat -c %s "$bundle")
    sum=$(sha256sum "$bundle" | cut -d' ' -f1)
    found=$(docker run --rm --user 0 --entrypoint sh "$IMAGE" -c \
        "find / -xdev -type f -size ${size}c -exec sha256sum {} + 2>/dev/null | grep $sum || true")
    if [ -n "$found" ]; then
        echo "error: the host's CA bundle $bundle is in $IMAGE: $found" >&2
        exit 1
    fi
    say "the host's CA bundle is not in $IMAGE"
}

# The smoke experiment, fresh, on this machine and in the image (same fixtures, same relative paths, so
# the same stage keys); then every metrics.json compared byte for byte.
TINY=(OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 XSTILTS_OFFLINE=.xstilts/offline)
smoke_local() {
    make --no-print-directory venv .xstilts/offline/.written
    rm -rf "$STATE/local" "$STATE/cache-local"
    env "${TINY[@]}" XSTILTS_CACHE="$STATE/cache-local" .venv/bin/xstilts run experiments/smoke.yaml \
        --output "$STATE/local"
}

smoke_docker() {
    rm -rf "$STATE/docker" "$STATE/cache-docker"
    mkdir -p "$STATE/docker" "$STATE/cache-docker"
    local id env_args=() kv
    id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
    for kv in "${TINY[@]}"; do env_args+=(-e "$kv"); done
    docker run --rm --user "$(id -u):$(id -g)" -v "$ROOT:$ROOT:ro" -v "$STATE:$STATE" -w "$ROOT" \
        "${env_args[@]}" -e XSTILTS_CACHE="$STATE/cache-docker" -e XSTILTS_IMAGE_ID="$id" \
        -e XSTILTS_IMAGE_NAME="$IMAGE" "$IMAGE" run experiments/smoke.yaml --output "$STATE/docker"
}

compare_metrics() {
    local local_dir=$STATE/local docker_dir=$STATE/docker n=0 bad=0 rel
    while IFS= read -r rel; do
        n=$((n + 1))
        if [ ! -f "$docker_dir/$rel" ]; then
            echo "error: $rel: in the local run, missing from the docker run ($docker_dir)" >&2
            bad=$((bad + 1))
        elif ! cmp -s "$local_dir/$rel" "$docker_dir/$rel"; then
            echo "error: $rel differs between the local run and the docker run:" >&2
            diff -u "$local_dir/$rel" "$docker_dir/$rel" | head -n 40 >&2 || true
            bad=$((bad + 1))
        fi
    done < <(cd "$local_dir" && find . -name metrics.json | sort)
    local extra
    extra=$(comm -13 <(cd "$local_dir" && find . -name metrics.json | sort) \
        <(cd "$docker_dir" && find . -name metrics.json | sort))
    if [ -n "$extra" ]; then
        echo "error: only in the docker run: $extra" >&2
        bad=$((bad + 1))
    fi
    if [ "$n" -eq 0 ] || [ "$bad" -ne 0 ]; then
        echo "error: docker smoke: $bad of $n metrics.json files differ (or none were written)" >&2
        exit 1
    fi
    say "all $n metrics.json files are byte-identical (local vs docker run)"
    "$PY" - "$docker_dir" <<'EOF'
import json, pathlib, sys
stage = sorted(pathlib.Path(sys.argv[1]).glob("*/stage.json"))[0]
image = json.loads(stage.read_text())["environment"].get("image")
assert image and image.get("id") and image.get("revision"), f"{stage}: no image recorded: {image}"
print(f"== docker-ci: {stage.parent.name} recorded image {json.dumps(image, sort_keys=True)}")
EOF
}

docker_tests() {
    XSTILTS_TEST_IMAGE="$IMAGE" XSTILTS_REQUIRE_SERVICES=1 OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 \
        HF_DATASETS_OFFLINE=1 .venv/bin/python -m pytest -q -m docker -p no:cacheprovider tests
}

ci() {
    local start=$SECONDS
    trap finish EXIT
    trap 'exit 130' INT TERM
    step "install engine tools" install_tools
    step "start engine" start_engine
    step "base image" base_image "$BASE_IMAGE"
    step "image" make --no-print-directory image BASE="$BASE_IMAGE" LOCK=cpu IMAGE="$IMAGE" PYTHON="$PY"
    step "CA bundle not in image" check_no_host_bundle
    step "smoke, local" smoke_local
    step "smoke, docker run" smoke_docker
    step "compare metrics" compare_metrics
    step "docker tests" docker_tests
    TIMES+=("$(printf '%-28s %5d s' total $((SECONDS - start)))")
}

case "${1:-ci}" in
    ci) ci ;;
    base-image) base_image "${2:-$BASE_IMAGE}" ;;
    *) echo "usage: $0 [ci | base-image [NAME]]" >&2; exit 2 ;;
esac
