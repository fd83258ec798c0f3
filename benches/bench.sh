#!/usr/bin/env bash
# corsgate vs nginx doing the same job, on loopback, with wrk.
#
#   benches/bench.sh [--duration 10s] [--connections 64] [--rounds 3] [--threads 1]
#                    [--scenarios preflight,get-1k,get-1m,cached-1k,cached-1m] [--pin]
#   benches/bench.sh --duration 2s --rounds 1          # quick sanity run
#   benches/bench.sh --scenarios cached-1k,cached-1m   # only the cache scenarios
#   benches/bench.sh --pin    # servers under test on CPU 0, wrk on CPU 1 (less noise)
#
# Topology (everything on 127.0.0.1, free ports picked at start):
#
#   wrk ──> corsgate (1 worker thread) ─────────────┐
#   wrk ──> corsgate --cache 256MiB (1 worker) ─────┼──> upstream nginx (1 worker,
#   wrk ──> nginx baseline (1 worker, proxy_cache   │     static files)
#           on /cached/ only) ──────────────────────┘
#
# Scenarios: `preflight` (answered locally by both), `get-1k` and `get-1m` (a GET with
# an Origin header, forwarded uncached to the upstream and decorated with CORS headers),
# `cached-1k` and `cached-1m` (the same GET of an object the upstream marks
# `Cache-Control: max-age=600`, answered from a warm cache: corsgate's in-memory
# cache in a second instance started with --cache, nginx's proxy_cache on disk).
# The uncached scenarios keep using the corsgate instance without a cache, so they
# measure exactly what they did before the cache existed.
# Each scenario runs corsgate and nginx alternately, --rounds times (interleaving
# cancels slow drift such as thermal throttling or a neighbour's compile), and reports
# the median req/s and median p50 latency of each, and the ratio corsgate/nginx.
#
# Caveat: wrk shares the machine with the server under test (and, for GETs, with the
# upstream), so absolute numbers are machine-bound; the ratio is what matters. By
# default nothing is pinned. With --pin, both servers under test (corsgate's two
# instances and the nginx baseline, workers included) run on CPU 0 and wrk on CPU 1,
# so neither ever shares a core with the load generator; the upstream stays unpinned.
# It makes round-to-round numbers steadier on a 2-core machine; it favours neither side.
#
# Needs: cargo, curl, python3 (free ports), nginx and wrk (installed via apt if absent).
# Writes only to a temp dir, removed on exit; all processes it starts are stopped.
set -euo pipefail

# ---------------------------------------------------------------- options
duration=10s
connections=64
rounds=3
threads=1
pin=0
all_scenarios=(preflight get-1k get-1m cached-1k cached-1m)
scenario_list=$(IFS=,; echo "${all_scenarios[*]}")

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --connections) connections=${2:?--connections needs a value}; shift 2 ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
        --threads) threads=${2:?--threads needs a value}; shift 2 ;;
        --scenarios) scenario_list=${2:?--scenarios needs a value}; shift 2 ;;
        --pin) pin=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ $connections =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --connections must be a positive integer" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]*[smh]?$ ]] || { echo "bench.sh: --duration looks like 10s, 2s, 1m" >&2; exit 2; }
# --scenarios: a comma-separated subset of all_scenarios, run in the order given.
scenarios=()
IFS=, read -r -a requested <<<"$scenario_list"
for want in ${requested[@]+"${requested[@]}"}; do
    [[ " ${all_scenarios[*]} " == *" $want "* ]] ||
        { echo "bench.sh: unknown scenario '$want' (known: ${all_scenarios[*]})" >&2; exit 2; }
    [[ " ${scenarios[*]-} " == *" $want "* ]] || scenarios+=("$want")
done
((${#scenarios[@]} > 0)) || { echo "bench.sh: --scenarios is empty" >&2; exit 2; }
# The caching corsgate is only started (and checked) when a cached-* scenario runs.
want_cache=0
[[ " ${scenarios[*]} " == *" cached-"* ]] && want_cache=1

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
origin=http://app.test

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corsgate-bench.XXXXXX")
pids=()
cleanup() {
    local pid
    # ${pids[@]+...}: an empty array is "unbound" under set -u in older bash.
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # runs the EXIT trap

# --pin: what runs the servers under test, and what runs wrk.
server_cpu=()
load_cpu=()
if ((pin)); then
    (($(nproc) >= 2)) || die "--pin needs at least 2 CPUs"
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
fi

# ---------------------------------------------------------------- tools
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    log "installing nginx and wrk"
    apt-get update && apt-get install -y nginx wrk
fi
for tool in cargo curl python3 nginx wrk taskset; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# ---------------------------------------------------------------- build
log "building corsgate (release)"
(cd "$repo" && cargo build --release --quiet --bin corsgate)
# cargo metadata knows the real target dir (CARGO_TARGET_DIR, .cargo/config, ...).
target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
corsgate=$target_dir/release/corsgate
[[ -x $corsgate ]] || die "corsgate binary not found at $corsgate"

# ---------------------------------------------------------------- ports
# Bind four sockets to port 0 at once (so the kernel hands out four distinct
# ports), print them, close them. A race with another process grabbing one in
# between is possible but unlikely; startup checks below would catch it.
read -r up_port cg_port cgc_port ng_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')

# ---------------------------------------------------------------- fixtures
# nginx workers drop to `nobody` when started as root: the tree must be readable.
chmod 755 "$tmp"
mkdir -p "$tmp/bucket/cached" "$tmp/upstream" "$tmp/baseline"
head -c 1024 /dev/urandom >"$tmp/bucket/obj-1k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/bucket/obj-1m.bin"
# Served by the upstream with Cache-Control: max-age=600 (see nginx-upstream.conf.in).
head -c 1024 /dev/urandom >"$tmp/bucket/cached/obj-1k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/bucket/cached/obj-1m.bin"
chmod -R a+rX "$tmp/bucket"

cat >"$tmp/cors.json" <<EOF
{"CORSRules":[{"AllowedOrigins":["$origin"],"AllowedMethods":["GET","PUT"],"AllowedHeaders":["content-type","x-amz-*"],"ExposeHeaders":["ETag"],"MaxAgeSeconds":600}]}
EOF

# wrk scripts. The preflight is what a browser sends before a PUT with metadata.
cat >"$tmp/preflight.lua" <<EOF
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "$origin"
wrk.headers["Access-Control-Request-Method"] = "PUT"
wrk.headers["Access-Control-Request-Headers"] = "content-type,x-amz-meta-a"
EOF
cat >"$tmp/get.lua" <<EOF
wrk.method = "GET"
wrk.headers["Origin"] = "$origin"
EOF

# Fill a template's @NAME@ placeholders. Values contain '/' but never '|'.
render() { # template output prefix listen_port
    sed -e "s|@PREFIX@|$3|g" \
        -e "s|@LISTEN_PORT@|$4|g" \
        -e "s|@UPSTREAM_PORT@|$up_port|g" \
        -e "s|@BUCKET_DIR@|$tmp/bucket|g" \
        -e "s|@ORIGIN@|$origin|g" \
        "$1" >"$2"
}

# Wait until something answers HTTP on a port (any status), or fail.
wait_http() { # name port pid logfile
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$3" 2>/dev/null || { cat "$4" >&2 || true; die "$1 exited during startup"; }
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$2/" && return 0
        sleep 0.1
    done
    cat "$4" >&2 || true
    die "$1 did not start listening on 127.0.0.1:$2"
}

start_nginx() { # name template dir port [command prefix...]
    local name=$1 template=$2 dir=$3 port=$4
    shift 4
    render "$template" "$dir/nginx.conf" "$dir" "$port"
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" ||
        { cat "$dir/error.log" >&2 || true; die "$name: nginx config test failed"; }
    "$@" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/error.log" &
    pids+=("$!")
    wait_http "$name" "$port" "$!" "$dir/error.log"
}

# ---------------------------------------------------------------- servers
log "starting upstream nginx on 127.0.0.1:$up_port"
start_nginx upstream "$script_dir/nginx-upstream.conf.in" "$tmp/upstream" "$up_port"

log "starting corsgate on 127.0.0.1:$cg_port (--workers 1 --access-log off)"
${server_cpu[@]+"${server_cpu[@]}"} "$corsgate" serve --listen "127.0.0.1:$cg_port" --upstream "http://127.0.0.1:$up_port" \
    --cors-rules "$tmp/cors.json" --workers 1 --access-log off \
    >"$tmp/corsgate.log" 2>&1 &
cg_pid=$!
pids+=("$cg_pid")
wait_http corsgate "$cg_port" "$cg_pid" "$tmp/corsgate.log"

cgc_pid=""
if ((want_cache)); then
    log "starting caching corsgate on 127.0.0.1:$cgc_port (--cache 256MiB --workers 1 --access-log off)"
    ${server_cpu[@]+"${server_cpu[@]}"} "$corsgate" serve --listen "127.0.0.1:$cgc_port" --upstream "http://127.0.0.1:$up_port" \
        --cors-rules "$tmp/cors.json" --cache 256MiB --workers 1 --access-log off \
        >"$tmp/corsgate-cache.log" 2>&1 &
    cgc_pid=$!
    pids+=("$cgc_pid")
    wait_http "caching corsgate" "$cgc_port" "$cgc_pid" "$tmp/corsgate-cache.log"
fi

log "starting baseline nginx on 127.0.0.1:$ng_port"
start_nginx nginx "$script_dir/nginx-baseline.conf.in" "$tmp/baseline" "$ng_port" \
    ${server_cpu[@]+"${server_cpu[@]}"}

# ---------------------------------------------------------------- correctness
# A benchmark must never measure error responses: check both targets first.
header() { # name headers-file -> value of the last such header (trimmed), or ""
    grep -i "^$1:" "$2" | tail -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//; s/ *$//' || true
}

verify() { # name port
    local name=$1 base="http://127.0.0.1:$2" hdr="$tmp/verify.hdr" body="$tmp/verify.body"
    local status obj acao

    status=$(curl -s -o "$body" -D "$hdr" -w '%{http_code}' -X OPTIONS \
        -H "Origin: $origin" -H "Access-Control-Request-Method: PUT" \
        -H "Access-Control-Request-Headers: content-type,x-amz-meta-a" \
        "$base/obj-1k.bin")
    acao=$(header access-control-allow-origin "$hdr")
    [[ $status == 200 && $acao == "$origin" ]] ||
        { cat "$hdr" >&2; die "$name: preflight got status $status, ACAO '$acao' (want 200, '$origin')"; }

    for obj in obj-1k.bin obj-1m.bin; do
        status=$(curl -s -o "$body" -D "$hdr" -w '%{http_code}' -H "Origin: $origin" "$base/$obj")
        acao=$(header access-control-allow-origin "$hdr")
        [[ $status == 200 && $acao == "$origin" ]] ||
            { cat "$hdr" >&2; die "$name: GET /$obj got status $status, ACAO '$acao' (want 200, '$origin')"; }
        cmp -s "$body" "$tmp/bucket/$obj" || die "$name: GET /$obj returned a different body"
    done
    # Uncached means uncached: a repeated GET must not be a cache hit.
    curl -s -o /dev/null -D "$hdr" -H "Origin: $origin" "$base/obj-1k.bin"
    [[ $(header x-cache "$hdr") != HIT ]] || { cat "$hdr" >&2; die "$name: repeated GET /obj-1k.bin was a cache HIT"; }
    log "$name answers correctly (preflight 200 + ACAO, GET 1k/1m bodies intact + ACAO, not cached)"
}

# Cached objects: the second GET must be a HIT with the CORS headers of this request's
# origin, the upstream's ETag and the exact body. The first GET fills the cache.
verify_cached() { # name port
    local name=$1 base="http://127.0.0.1:$2" hdr="$tmp/verify.hdr" body="$tmp/verify.body"
    local status obj acao xcache etag want_etag i

    for obj in cached/obj-1k.bin cached/obj-1m.bin; do
        curl -s -o /dev/null -D "$hdr" "http://127.0.0.1:$up_port/$obj"
        want_etag=$(header etag "$hdr")
        for i in 1 2; do
            status=$(curl -s -o "$body" -D "$hdr" -w '%{http_code}' -H "Origin: $origin" "$base/$obj")
            acao=$(header access-control-allow-origin "$hdr")
            xcache=$(header x-cache "$hdr")
            etag=$(header etag "$hdr")
            [[ $status == 200 && $acao == "$origin" ]] ||
                { cat "$hdr" >&2; die "$name: GET /$obj #$i got status $status, ACAO '$acao' (want 200, '$origin')"; }
            cmp -s "$body" "$tmp/bucket/$obj" || die "$name: GET /$obj #$i returned a different body"
        done
        [[ $xcache == HIT ]] || { cat "$hdr" >&2; die "$name: second GET /$obj: X-Cache '$xcache' (want HIT)"; }
        [[ -n $want_etag && $etag == "$want_etag" ]] ||
            { cat "$hdr" >&2; die "$name: second GET /$obj: ETag '$etag' (upstream: '$want_etag')"; }
    done
    log "$name answers from its cache (second GET: X-Cache HIT, ACAO, upstream ETag, 1k/1m bodies intact)"
}

# The upstream must mark exactly the cached/ objects as fresh, or the scenarios
# would not measure what their names say.
check_upstream() { # path want-cache-control
    local got
    got=$(curl -s -o /dev/null -D - "http://127.0.0.1:$up_port/$1" | grep -i '^\(cache-control\|expires\):' |
        tr -d '\r' | tr '\n' ' ' | sed 's/ *$//' || true)
    [[ $got == "$2" ]] || die "upstream /$1: freshness headers '$got' (want '$2')"
}
check_upstream obj-1k.bin ""
check_upstream obj-1m.bin ""
check_upstream cached/obj-1k.bin "Cache-Control: max-age=600"
check_upstream cached/obj-1m.bin "Cache-Control: max-age=600"

verify corsgate "$cg_port"
verify nginx "$ng_port"
if ((want_cache)); then
    verify_cached "caching corsgate" "$cgc_port"
    verify_cached nginx "$ng_port"
fi

# ---------------------------------------------------------------- measuring
# One wrk run; prints "req_per_sec p50_ms bad" where bad counts non-2xx/3xx
# responses plus socket errors.
run_wrk() { # port scenario
    local url script out
    case "$2" in
        preflight) url="http://127.0.0.1:$1/obj-1k.bin"; script="$tmp/preflight.lua" ;;
        get-1k) url="http://127.0.0.1:$1/obj-1k.bin"; script="$tmp/get.lua" ;;
        get-1m) url="http://127.0.0.1:$1/obj-1m.bin"; script="$tmp/get.lua" ;;
        cached-1k) url="http://127.0.0.1:$1/cached/obj-1k.bin"; script="$tmp/get.lua" ;;
        cached-1m) url="http://127.0.0.1:$1/cached/obj-1m.bin"; script="$tmp/get.lua" ;;
        *) die "unknown scenario $2" ;;
    esac
    out=$(${load_cpu[@]+"${load_cpu[@]}"} wrk -t"$threads" -c"$connections" -d"${3:-$duration}" --latency -s "$script" "$url")
    printf '%s\n' "$out" >>"$tmp/wrk.log"
    # Latency lines look like "     50%  512.00us" (units us, ms or s) -> ms.
    awk '
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            p50 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : (u == "m") ? v * 60000 : v
        }
        /Non-2xx or 3xx responses:/ { bad += $NF }
        /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
        END {
            if (rps == "") exit 1
            printf "%s %.3f %d\n", rps, p50, bad
        }' <<<"$out" || { printf '%s\n' "$out" >&2; die "could not parse wrk output"; }
}

median() { # numbers... -> median (mean of the middle two for an even count)
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The median of the per-round ratios a_i / b_i of two lists in round order.
paired_ratio() { # "a1 a2 ..." "b1 b2 ..."
    # shellcheck disable=SC2086
    median $(paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) |
        awk '{ printf "%.4f\n", ($2 > 0) ? $1 / $2 : 0 }')
}

# Which server a target means for a scenario.
port_of() { # target scenario
    case "$1,$2" in
        corsgate,cached-*) echo "$cgc_port" ;;
        corsgate,*) echo "$cg_port" ;;
        nginx,*) echo "$ng_port" ;;
    esac
}

# Warm-up, not measured: the caches were filled by the checks above; one short run
# per cached scenario and target also warms what sits around them (page cache,
# allocator, nginx's open file cache, connection pools).
for scenario in "${scenarios[@]}"; do
    [[ $scenario == cached-* ]] || continue
    for target in corsgate nginx; do
        run_wrk "$(port_of "$target" "$scenario")" "$scenario" 1s >/dev/null
    done
    log "warmed $scenario on both (1s each, not measured)"
done
: >"$tmp/wrk.log"

declare -A rps p50 warnings=()
total_runs=$((${#scenarios[@]} * rounds * 2))
log "measuring: ${#scenarios[@]} scenarios x $rounds round(s) x 2 targets, wrk -t$threads -c$connections -d$duration ($total_runs runs)"

for scenario in "${scenarios[@]}"; do
    for ((round = 1; round <= rounds; round++)); do
        # Alternate which target goes first, so neither always runs on a warmer machine.
        if ((round % 2)); then order=(corsgate nginx); else order=(nginx corsgate); fi
        for target in "${order[@]}"; do
            port=$(port_of "$target" "$scenario")
            result=$(run_wrk "$port" "$scenario")
            read -r r l bad <<<"$result"
            rps[$scenario,$target]+="$r "
            p50[$scenario,$target]+="$l "
            log "$scenario round $round $target: $r req/s, p50 $l ms"
            if ((bad > 0)); then
                log "WARNING: $bad non-2xx/3xx responses or socket errors in that run"
                warnings[$scenario,$target]=$((${warnings[$scenario,$target]:-0} + bad))
            fi
        done
    done
done

# ---------------------------------------------------------------- report
# Evidence that the settings took: corsgate's OS threads (main + runtime workers +
# any blocking-pool threads) and its log size (with the access log off it should
# hold only the startup line, not one per request).
cg_threads=$(find "/proc/$cg_pid/task" -mindepth 1 -maxdepth 1 | wc -l)
cg_log_lines=$(wc -l <"$tmp/corsgate.log")
cache_lines=()
if ((want_cache)); then
    cgc_threads=$(find "/proc/$cgc_pid/task" -mindepth 1 -maxdepth 1 | wc -l)
    cgc_log_lines=$(wc -l <"$tmp/corsgate-cache.log")
    # Still answering from the caches after the runs? (An eviction or expiry during
    # the runs would show here as MISS/EXPIRED/REVALIDATED.)
    xc=()
    for scenario in "${scenarios[@]}"; do
        [[ $scenario == cached-* ]] || continue
        path=cached/obj-${scenario#cached-}.bin
        for target in corsgate nginx; do
            curl -s -o /dev/null -D "$tmp/after.hdr" -H "Origin: $origin" \
                "http://127.0.0.1:$(port_of "$target" "$scenario")/$path"
            xc+=("$scenario $target $(header x-cache "$tmp/after.hdr")")
        done
    done
    cache_lines+=("caching corsgate (--cache 256MiB) after the runs: $cgc_threads OS thread(s), $cgc_log_lines log line(s)")
    cache_lines+=("X-Cache after the runs: $(IFS=,; echo "${xc[*]}" | sed 's/,/, /g')")
    cache_lines+=("cached-*: corsgate's cache in process memory; nginx proxy_cache on disk (page cache), sendfile + open_file_cache")
fi

# Each list is a space-separated string of numbers; word-splitting it is the point.
# shellcheck disable=SC2086
{
    echo
    echo "corsgate vs nginx — wrk -t$threads -c$connections -d$duration, $rounds round(s), medians"
    echo "corsgate --workers 1 --access-log off; nginx worker_processes 1, access_log off; $(nproc) CPU(s) shared with wrk and the upstream"
    if ((pin)); then echo "pinned: servers under test on CPU 0, wrk on CPU 1, upstream unpinned"; fi
    echo "corsgate after the runs: $cg_threads OS thread(s), $cg_log_lines log line(s)"
    for line in ${cache_lines[@]+"${cache_lines[@]}"}; do echo "$line"; done
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine adds noise)"
    echo
    printf '%-10s %14s %14s %8s %8s %14s %14s\n' scenario "corsgate rps" "nginx rps" ratio paired \
        "cg p50 ms" "nginx p50 ms"
    for scenario in "${scenarios[@]}"; do
        cg=$(median ${rps[$scenario,corsgate]})
        ng=$(median ${rps[$scenario,nginx]})
        ratio=$(awk -v a="$cg" -v b="$ng" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
        printf '%-10s %14s %14s %8s %8s %14s %14s\n' "$scenario" "$cg" "$ng" "${ratio}x" \
            "$(paired_ratio "${rps[$scenario,corsgate]}" "${rps[$scenario,nginx]}")x" \
            "$(median ${p50[$scenario,corsgate]})" "$(median ${p50[$scenario,nginx]})"
    done
    echo "ratio: median corsgate rps / median nginx rps; paired: median over rounds of that"
    echo "round's corsgate/nginx (the two run back to back, so a slow spell of the machine"
    echo "that hits one round hits both sides of its ratio)"
    echo
    echo "raw per-round numbers, in round order (req/s ... | p50 ms ...):"
    for scenario in "${scenarios[@]}"; do
        for target in corsgate nginx; do
            printf '  %-10s %-9s' "$scenario" "$target"
            printf ' %10s' ${rps[$scenario,$target]}
            printf '  |'
            printf ' %8s' ${p50[$scenario,$target]}
            echo
        done
    done
    # Spread (max/min - 1) of each target's req/s across rounds: above 20% the
    # medians are dominated by whatever else the machine is doing.
    noisy=()
    for key in "${!rps[@]}"; do
        spread=$(printf '%s\n' ${rps[$key]} | sort -g |
            awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d", (lo > 0) ? (hi / lo - 1) * 100 : 0 }')
        if ((spread > 20)); then noisy+=("${key/,/ } ${spread}%"); fi
    done
    if ((${#noisy[@]} > 0)); then
        echo
        echo "NOISY: req/s spread across rounds above 20% for: $(IFS=,; echo "${noisy[*]}" | sed 's/,/, /g')"
        echo "       rerun on a quieter machine (or with more --rounds) before trusting the ratios"
    fi
    if ((${#warnings[@]} > 0)); then
        echo
        echo "WARNING: non-2xx/3xx responses or socket errors during measurement:"
        for key in "${!warnings[@]}"; do
            echo "  ${key/,/ }: ${warnings[$key]}"
        done
    fi
} | tee "$tmp/results.txt"
