#!/usr/bin/env bash
# Build the sync-runner image and run it the way Kubernetes does: read-only root filesystem,
# all capabilities dropped, no privilege escalation, uid 10001, a tmpfs on /tmp only.
#
#   scripts/container-smoke.sh
#
# In the image it runs, each checked:
#   1. `validate`                       the baked-in specs          -> exit 0
#   2. `demo`                           offline demo on SQLite /tmp -> exit 0
#   3. `db upgrade`                     on a fresh local Postgres database (the migration Job)
#   4. `enqueue` + `run-job <id>`       a job in that Postgres queue -> exit 0, job completed
#   5. `run --max-runtime 780`          stopped with SIGTERM while a job waits on a slow
#                                       supplier: exits within the grace period (not killed),
#                                       and the job is pending again, its attempt not charged
# and prints the image size and each result.
#
# Engine: docker if a Docker engine answers, else podman. On a machine without either, as
# root with apt, it installs podman, buildah, runc and debootstrap. Base image: $PYTHON_IMAGE
# if set; else python:3.12-slim-bookworm if it can be pulled; else a Debian bookworm Python
# image built here with debootstrap (localhost/debian-py:bookworm, kept for the next run).
# For podman it writes a private containers.conf (runc, rlimits within the host's limits) and
# mounts the host's CA bundle into the build, for machines that intercept TLS.
#
# Environment: IMAGE (default localhost/sync-runner:smoke), PYTHON_IMAGE, PG_ADMIN_URL
# (default postgresql://postgres@127.0.0.1:5432/postgres), GRACE (the pod's
# terminationGracePeriodSeconds, default 60), ENGINE (docker or podman, to choose).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/sync-runner:smoke}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
GRACE=${GRACE:-60}
LOCAL_BASE=localhost/debian-py:bookworm
OFFICIAL_BASE=docker.io/library/python:3.12-slim-bookworm
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

work=$(mktemp -d /tmp/container-smoke.XXXXXX)
db="sync_runner_smoke_$$"
container="sync-runner-smoke-$$"
server_pid=""
results=()

say() { printf '\n== %s\n' "$*"; }
record() {  # record PASS|FAIL "text"
    results+=("$1  $2")
    printf '%s  %s\n' "$1" "$2"
}
cleanup() {
    set +e
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    [ -n "${ENGINE:-}" ] && "$ENGINE" rm -f "$container" >/dev/null 2>&1
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# ---- engine ---------------------------------------------------------------------------------
if [ -z "${ENGINE:-}" ]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        ENGINE=docker
    else
        ENGINE=podman
    fi
fi
if [ "$ENGINE" = podman ] && ! command -v podman >/dev/null; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "no Docker engine and no podman: install one of them" >&2
        exit 1
    fi
    say "installing podman, buildah, runc, debootstrap (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null
fi
if [ "$ENGINE" = podman ] && command -v runc >/dev/null && [ -z "${CONTAINERS_CONF:-}" ]; then
    # crun refuses hybrid cgroup layouts, and podman's default rlimits can exceed what an
    # unprivileged sandbox may set: runc with the host's own limits works on both.
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=32768
    [ "$nproc" -gt 32768 ] && nproc=32768
    cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
    export CONTAINERS_CONF="$work/containers.conf"
fi
say "engine: $ENGINE ($("$ENGINE" --version))"

# ---- base image -----------------------------------------------------------------------------
if [ -z "${PYTHON_IMAGE:-}" ]; then
    if "$ENGINE" image inspect "$OFFICIAL_BASE" >/dev/null 2>&1 \
        || timeout 60 "$ENGINE" pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then
        PYTHON_IMAGE=$OFFICIAL_BASE
    elif "$ENGINE" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        PYTHON_IMAGE=$LOCAL_BASE
    else
        say "no registry: building $LOCAL_BASE with debootstrap"
        command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
        mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
            || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
        rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
        tar -C "$work/rootfs" -c . | "$ENGINE" import --change 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
        rm -rf "$work/rootfs"
        PYTHON_IMAGE=$LOCAL_BASE
    fi
fi
say "base image: $PYTHON_IMAGE"

# ---- build ----------------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
build=("$ENGINE" build -t "$IMAGE"
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
    --build-arg "VERSION=$version"
    --build-arg "REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
if [ "$ENGINE" = podman ] && [ -f "$CA_BUNDLE" ]; then
    build+=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")  # pip in the build trusts what the host trusts
fi
say "building $IMAGE"
started=$(date +%s)
if "${build[@]}" . >"$work/build.log" 2>&1; then
    record PASS "build in $(($(date +%s) - started)) s"
else
    tail -30 "$work/build.log" >&2
    record FAIL "build (see the log above)"
    exit 1
fi
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
record INFO "image size: $((size / 1000000)) MB ($size bytes)"
record INFO "labels: $("$ENGINE" image inspect --format '{{json .Config.Labels}}' "$IMAGE")"
record INFO "user: $("$ENGINE" run --rm --entrypoint id "$IMAGE")"

# Kubernetes' restricted pod: read-only root, nothing writable but /tmp, no capabilities.
hardened=(--read-only --tmpfs /tmp:rw,size=64m,mode=1777 --cap-drop ALL
    --security-opt no-new-privileges --user 10001:10001)
[ "$ENGINE" = podman ] && hardened+=(--read-only-tmpfs=false)  # podman adds more tmpfs by default
in_image() {  # in_image [engine run options...] -- args...
    local opts=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    "$ENGINE" run --rm "${hardened[@]}" "${opts[@]}" "$IMAGE" "$@"
}
expect() {  # expect CODE "what" command...: run, show output, record the result
    local want=$1 what=$2
    shift 2
    local rc=0
    "$@" >"$work/out" 2>&1 || rc=$?
    sed 's/^/    /' "$work/out" | tail -n 25
    if [ "$rc" -eq "$want" ]; then record PASS "$what: exit $rc"; else record FAIL "$what: exit $rc (want $want)"; fi
    return 0
}

say "1. validate (the specs baked into the image)"
expect 0 "validate" in_image -- validate

say "2. demo (offline, SQLite in /tmp)"
expect 0 "demo" in_image -- demo

say "3. db upgrade on a fresh Postgres database ($db)"
psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null
db_url="postgresql://postgres@127.0.0.1:5432/$db"
pg=(--network host -e "DATABASE_URL=$db_url")
expect 0 "db upgrade" in_image "${pg[@]}" -- db upgrade

say "4. enqueue + run-job on the Postgres queue"
expect 0 "demo on Postgres (seeds the demo shop's mock accounts)" in_image "${pg[@]}" -- demo
job=$(in_image "${pg[@]}" -- enqueue --user demo-user --type inventory_update | tail -n 1) || true
echo "    enqueued job $job"
expect 0 "run-job $job" in_image "${pg[@]}" -e LOG_FORMAT=json -- run-job "$job"
row=$(psql -qAt "$db_url" -c "SELECT status || ' attempts=' || attempts || ' result=' || COALESCE(result_data::text, '') FROM import_jobs WHERE id = '$job'")
echo "    import_jobs: ${row:0:160}"
if [[ "$row" == completed* ]]; then record PASS "job $job completed in Postgres"; else record FAIL "job $job: $row"; fi

say "5. SIGTERM during a run (terminationGracePeriodSeconds=$GRACE)"
# A supplier that accepts connections and never answers: the job is mid-request at SIGTERM.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$port" <<'EOF' &
import socket, sys, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
server.settimeout(1)
held, end = [], time.monotonic() + 180  # stops by itself
while time.monotonic() < end:
    try:
        held.append(server.accept()[0])
    except TimeoutError:
        pass
EOF
server_pid=$!
psql -q "$db_url" -c "INSERT INTO suppliers (id, user_id, name, supplier_type, status, mode, api_credentials, settings, created_at, updated_at)
    VALUES ('smoke-slow', 'smoke-user', 'Slow BigBuy', 'bigbuy', 'active', 'live', '{\"api_key\": \"smoke-placeholder\"}',
            '{\"base_url\": \"http://127.0.0.1:$port/rest\"}', now(), now())" >/dev/null
slow_job=$(in_image "${pg[@]}" -- enqueue --user smoke-user --type inventory_update \
    --account smoke-slow --priority 100 | tail -n 1) || true
echo "    enqueued job $slow_job (supplier at 127.0.0.1:$port, never answers)"
"$ENGINE" run -d --name "$container" "${hardened[@]}" "${pg[@]}" -e LOG_FORMAT=json "$IMAGE" \
    run --max-runtime 780 >/dev/null
for _ in $(seq 1 60); do
    status=$(psql -qAt "$db_url" -c "SELECT status FROM import_jobs WHERE id = '$slow_job'")
    [ "$status" = running ] && break
    sleep 0.5
done
echo "    job $slow_job is $status; sending SIGTERM ($ENGINE stop -t $GRACE)"
t0=$(date +%s.%N)
"$ENGINE" stop -t "$GRACE" "$container" >/dev/null
t1=$(date +%s.%N)
code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$container")
"$ENGINE" logs "$container" 2>&1 | tail -n 8 | sed 's/^/    /'
elapsed=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
if [ "$code" != 137 ] && python3 -c "import sys; sys.exit(not $t1 - $t0 < $GRACE)"; then
    record PASS "SIGTERM: run exited with code $code after ${elapsed} s (grace ${GRACE} s, not killed)"
else
    record FAIL "SIGTERM: exit code $code after ${elapsed} s (grace ${GRACE} s)"
fi
row=$(psql -qAt "$db_url" -c "SELECT status || ' attempts=' || attempts || ' locked_by=' || COALESCE(locked_by, '-') FROM import_jobs WHERE id = '$slow_job'")
echo "    import_jobs: $row"
if [[ "$row" == "pending attempts=0"* ]]; then
    record PASS "the interrupted job is pending again, attempt not charged"
else
    record FAIL "the interrupted job: $row"
fi

say "summary"
printf '%s\n' "${results[@]}"
if printf '%s\n' "${results[@]}" | grep -q '^FAIL'; then exit 1; fi
