#!/usr/bin/env bash
# Regenerates PublicAPI.Unshipped.txt of each library project from the current code, for a deliberate
# change to the public API (see docs/public-api.md). PublicAPI.Shipped.txt is never touched.
#
# Each Unshipped file is emptied to its header, then the analyzer's own fix for RS0016 (symbol not in
# the declared API) writes every public symbol that Shipped does not hold, and the lines are sorted
# (ordinal, case-insensitive: the analyzer's order). Lines starting *REMOVED* (a shipped symbol taken
# out) are kept. Running it twice gives the same files.
#
# Usage: eng/public-api.sh            all three projects
#        eng/public-api.sh PROJECT...  only these (e.g. src/Buddy/Buddy.csproj)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "$#" -gt 0 ]; then
    projects=("$@")
else
    projects=(
        src/Buddy/Buddy.csproj
        src/Buddy.Tracing/Buddy.Tracing.csproj
        src/Buddy.Simulation/Buddy.Simulation.csproj
    )
fi

header='#nullable enable'
for project in "${projects[@]}"; do
    [ -f "$project" ] || { echo "public-api.sh: no project $project" >&2; exit 1; }
    dir="$(dirname "$project")"
    unshipped="$dir/PublicAPI.Unshipped.txt"
    [ -f "$dir/PublicAPI.Shipped.txt" ] || { echo "public-api.sh: $dir has no PublicAPI.Shipped.txt" >&2; exit 1; }

    removed="$(grep -E '^\*REMOVED\*' "$unshipped" 2>/dev/null || true)"
    printf '%s\n' "$header" > "$unshipped"
    echo "public-api.sh: $project" >&2
    # The fix edits only the API file; the "Formatted code file" lines it prints name the sources
    # where the symbols were found, none of which it changes.
    dotnet format analyzers "$project" --diagnostics RS0016 --severity info >/dev/null

    body="$(tail -n +2 "$unshipped")"
    if [ -n "$removed" ]; then
        body="$body"$'\n'"$removed"
    fi
    {
        printf '%s\n' "$header"
        printf '%s\n' "$body" | { grep -v -e '^$' -e "^$header\$" || true; } | LC_ALL=C sort -f | uniq
    } > "$unshipped.tmp"
    mv "$unshipped.tmp" "$unshipped"
    echo "public-api.sh: $unshipped: $(($(wc -l < "$unshipped") - 1)) lines" >&2
done
