#!/usr/bin/env bash
# Times the thread-cached order-0 pair of two builds of Buddy side by side with one harness
# (eng/pair-timer), alternating runs so that both see the same machine; prints each run's ns per
# pair and the medians. Usage: eng/compare-pair.sh BEFORE_REV [ROUNDS] [OLD_NAMESPACES]
#   BEFORE_REV      the build to compare the working tree with (e.g. 15c61da)
#   ROUNDS          alternations (default 12)
#   OLD_NAMESPACES  1 when BEFORE_REV keeps PageAllocator in Buddy.Allocation (before issue 14)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="${1:?usage: eng/compare-pair.sh BEFORE_REV [ROUNDS] [OLD_NAMESPACES]}"
rounds="${2:-12}"
old="${3:-0}"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git -C "$root" worktree add --detach "$work/before" "$rev" >/dev/null
dotnet build -c Release "$work/before/src/Buddy" -o "$work/lib-before" >/dev/null
dotnet build -c Release "$root/src/Buddy" -o "$work/lib-after" >/dev/null
defines=""
[ "$old" = 1 ] && defines="-p:DefineConstants=OLD_NAMESPACES"
for side in before after; do
  cp -r "$root/eng/pair-timer" "$work/timer-$side"
  dotnet build -c Release "$work/timer-$side" -p:BuddyDll="$work/lib-$side/Buddy.dll" \
    $([ "$side" = before ] && echo "$defines") -o "$work/run-$side" >/dev/null
done

for i in $(seq 1 "$rounds"); do
  for side in before after; do
    echo "$side $(dotnet "$work/run-$side/PairTimer.dll")"
  done
done | tee "$work/runs.txt"
python3 - "$work/runs.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, ns = line.split()
    runs.setdefault(side, []).append(float(ns))
for side in ("before", "after"):
    v = runs[side]
    print(f"{side}: median {statistics.median(v):.2f} ns per pair ({min(v):.2f}-{max(v):.2f}, {len(v)} runs)")
print(f"after / before: {statistics.median(runs['after']) / statistics.median(runs['before']):.3f}")
PY
