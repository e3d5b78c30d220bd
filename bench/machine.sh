#!/usr/bin/env bash
# The machine block of bench/run.sh's output: cores and CPU model, memory,
# and the disk under the benchmark's databases, measured with dd.
#
#   bench/machine.sh DIR MIB FSYNCS
#
# DIR is the directory the databases live in. dd writes MIB MiB to a scratch
# file there in 1 MiB blocks with direct I/O and a final fdatasync, reads it
# back with direct I/O, then writes FSYNCS blocks of 4 KiB each with
# oflag=dsync (each write waits for the disk, as a commit's fsync does).
# Direct I/O keeps the page cache out of the figures; the host of a VM may
# still cache the virtual disk. Where the filesystem has no direct I/O
# (tmpfs), dd falls back to normal I/O with conv=fdatasync, and the output
# says so. Prints Markdown lines; a failed probe prints why, and the script
# still exits 0, so that it never fails the suite.
set -euo pipefail
export LC_ALL=C
DIR=$1 MIB=${2:-256} FSYNCS=${3:-256}
FILE=$DIR/dd-probe.$$
trap 'rm -f "$FILE"' EXIT

# --- CPU and memory ----------------------------------------------------------
model=$(awk -F': *' '/^(model name|Hardware|Processor|cpu model)[[:space:]]*:/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
[ -n "$model" ] || model="unknown model ($(uname -m))"
mhz=$(awk -F': *' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo 2>/dev/null || true)
hyp=$(grep -qw hypervisor /proc/cpuinfo 2>/dev/null && echo ", virtual" || true)
read -r l1 l5 l15 _ </proc/loadavg
mem=$(awk '
  /^MemTotal:/ { t = $2 } /^MemFree:/ { f = $2 } /^MemAvailable:/ { a = $2 } /^Cached:/ { c = $2 }
  /^SwapTotal:/ { st = $2 } /^SwapFree:/ { sf = $2 }
  END { g = 1024 * 1024
        printf "%.1f GiB, of which %.1f GiB free and %.1f GiB page cache (MemAvailable %.1f GiB); ", t / g, f / g, c / g, a / g
        if (st > 0) printf "swap %.1f GiB, %.1f GiB used", st / g, (st - sf) / g; else printf "no swap" }' /proc/meminfo)
stat0=$(head -n 1 /proc/stat)

# --- the disk ----------------------------------------------------------------
# The filesystem DIR is on: the longest mount point that is a prefix of it.
where=$(cd "$DIR" 2>/dev/null && pwd -P || echo "$DIR")
fs=$(awk -v p="$where" '
  { d = $2; gsub(/\\040/, " ", d)
    if ((d == "/" || p == d || index(p, d "/") == 1) && length(d) >= length(best)) { best = d; dev = $1; type = $3 } }
  END { printf "%s on %s, mounted at %s", type, dev, best
        if (type == "tmpfs" || type == "ramfs") printf "; **a memory filesystem: these are memory speeds, not a disk**" }' /proc/mounts)

# dd's summary line → "bytes seconds", or "ERR why" when dd fails.
dd_run() {
  local out
  if out=$(dd "$@" 2>&1); then
    awk '/copied/ { for (i = 1; i < NF; i++) if ($i ~ /^copied,?$/) s = $(i + 1); print $1, s }' <<<"$out"
  else
    echo "ERR dd $*: $(grep -v -e 'records in' -e 'records out' -e copied <<<"$out" | head -n 1)"
  fi
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / s / 1e6; else print "n/a" }'; }

disk() {
  local direct=1 w r f note
  { dd if=/dev/zero of="$FILE" bs=1M count=1 oflag=direct && dd if="$FILE" of=/dev/null bs=1M iflag=direct; } >/dev/null 2>&1 \
    || direct=0
  rm -f "$FILE"
  if [ $direct = 1 ]; then
    w=$(dd_run if=/dev/zero of="$FILE" bs=1M count="$MIB" oflag=direct conv=fdatasync)
    r=$(dd_run if="$FILE" of=/dev/null bs=1M iflag=direct)
    note="$MIB MiB in 1 MiB blocks, direct I/O"
  else
    w=$(dd_run if=/dev/zero of="$FILE" bs=1M count="$MIB" conv=fdatasync)
    # Ask the kernel to drop the file's cached pages (it cannot on tmpfs).
    dd if="$FILE" iflag=nocache count=0 >/dev/null 2>&1 || true
    r=$(dd_run if="$FILE" of=/dev/null bs=1M)
    note="$MIB MiB in 1 MiB blocks; **no direct I/O on this filesystem**: normal I/O with conv=fdatasync, so the read may come from memory"
  fi
  rm -f "$FILE"
  case "$w $r" in *ERR*) echo "disk probe failed: ${w#ERR } ${r#ERR }"; return ;; esac
  # Synced 4 KiB writes: about how many commits a second the disk allows.
  f=$(dd_run if=/dev/zero of="$FILE" bs=4k count="$FSYNCS" oflag=dsync)
  rm -f "$FILE"
  # shellcheck disable=SC2086
  printf 'write %s MB/s, read %s MB/s (%s); ' "$(mbps $w)" "$(mbps $r)" "$note"
  case "$f" in
    ERR*) echo "synced writes: ${f#ERR }" ;;
    *) awk -v n="$FSYNCS" -v s="${f#* }" 'BEGIN { if (s > 0) printf "%.0f synced 4 KiB writes/s, %.2f ms each (dd oflag=dsync, %d blocks)\n", n / s, s * 1000 / n, n; else print "synced writes: n/a" }' ;;
  esac
}
disk_line=$(disk 2>&1 || echo "disk probe failed")

cpu=$(awk -v a="$stat0" -v b="$(head -n 1 /proc/stat)" 'BEGIN {
  split(a, x); split(b, y); for (i = 2; i <= 9; i++) { d[i] = y[i] - x[i]; t += d[i] }
  if (t <= 0) { print "n/a"; exit }
  printf "%.0f %% busy, %.0f %% iowait, %.0f %% steal", 100 * (d[2] + d[3] + d[4] + d[7] + d[8]) / t, 100 * d[6] / t, 100 * d[9] / t }')

echo "machine:"
echo
echo "- CPU: $(nproc) cores (nproc), $model${mhz:+, $mhz MHz}$hyp; load average $l1 $l5 $l15 (1, 5, 15 min); over the disk probe: $cpu"
echo "- RAM: $mem"
echo "- disk of $DIR ($fs): $disk_line"
