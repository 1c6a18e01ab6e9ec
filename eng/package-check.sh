#!/usr/bin/env bash
# What a user does with the packages, checked from this clone (issue 15): `dotnet pack` at the root
# builds every package; each carries its license, readme, commit and symbols; the `buddy` tool
# installs from the local feed into a temporary tool path and runs (`--version`, `replay --json` of
# the bundled trace, `frag` against the kernel's own output); and every C# block of README.md
# builds and runs as its own console program against the packed ZonedBuddy package.
#
# Prints one line per check, "ok: ..." or "FAIL: ...", then "package checks: N passed, N failed";
# exits 1 when any check failed. .ci/run adds the counts to the test suite's.
#
# Usage: eng/package-check.sh [WORK-DIR]   (default: a new temporary directory, removed at the end)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work="${1:-}"
if [ -z "$work" ]; then
    work="$(mktemp -d /tmp/buddy-package-check.XXXXXX)"
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
feed="$work/feed"
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
zip_list() { python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }
zip_cat() { python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' "$1" "$2"; }
check() { local what="$1"; shift; if "$@" >"$work/last.log" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    /' "$work/last.log" | tail -20; fi; }

version="$(sed -n 's|.*<Version>\(.*\)</Version>.*|\1|p' Directory.Build.props | head -1)"

# 1. Every package, from the root, as a user types it.
check "dotnet pack at the root" dotnet pack -c Release -o "$feed"
for id in ZonedBuddy ZonedBuddy.Tracing ZonedBuddy.Simulation ZonedBuddy.Tool; do
    nupkg="$feed/$id.$version.nupkg"
    if [ ! -f "$nupkg" ] || [ ! -f "$feed/$id.$version.snupkg" ]; then
        fail "$id $version: package and symbols package"
        continue
    fi
    nuspec="$(zip_cat "$nupkg" "$id.nuspec")"
    files="$(zip_list "$nupkg")"
    if grep -q '<license type="expression">MIT</license>' <<<"$nuspec" && grep -q '<readme>README.md</readme>' <<<"$nuspec" \
        && grep -q '<repository type="git"[^>]* commit="[0-9a-f]\{40\}"' <<<"$nuspec" && grep -qx 'README.md' <<<"$files" \
        && grep -qx 'LICENSE' <<<"$files" && grep -q '<tags>' <<<"$nuspec"; then
        ok "$id $version: symbols, MIT license, readme, tags, commit"
    else
        fail "$id $version: metadata (nuspec below)"
        sed 's/^/    /' <<<"$nuspec"
    fi
done
tool_files="$(zip_list "$feed/ZonedBuddy.Tool.$version.nupkg" 2>/dev/null)"
if grep -q 'data/linux-6.18-dotnet-build.trace.gz$' <<<"$tool_files" && ! grep -qE '/(cs|de|fr|ja|zh-Hans)/' <<<"$tool_files" \
    && ! grep -v 'DotnetToolSettings.xml$' <<<"$tool_files" | grep -q '^tools/.*\.xml$'; then
    ok "the tool package holds the bundled trace, no satellite folders and no XML docs"
else
    fail "the tool package's files"
fi

# 2. The tool, installed from the feed, runs as `buddy`. Packages restore into a folder of this run:
# every build of the repository is version 0.1.0, so the machine's cache may hold an older 0.1.0.
tools="$work/tools"
check "dotnet tool install ZonedBuddy.Tool from the local feed" \
    env NUGET_PACKAGES="$work/packages" dotnet tool install --tool-path "$tools" --add-source "$feed" ZonedBuddy.Tool --version "$version"
buddy="$tools/buddy"
check "buddy --version prints $version" bash -c "'$buddy' --version | grep -q '^$version'"
check "buddy --help says buddy" bash -c "'$buddy' --help | grep -q '^  buddy \[command\]'"
check "buddy replay --json (the bundled trace, every policy)" \
    bash -c "'$buddy' replay --json '$work/replay.json' >/dev/null && python3 -c \"import json,sys; d=json.load(open('$work/replay.json')); sys.exit(0 if len(d['policies']) == 6 else 1)\""
data=tests/Buddy.Tests/Data
check "buddy frag matches the kernel's unusable_index" bash -c "'$buddy' frag $data/live-6.18.buddyinfo --index unusable | diff - $data/live-6.18.unusable_index"
check "buddy frag matches the kernel's extfrag_index" bash -c "'$buddy' frag $data/live-6.18.buddyinfo --index extfrag | diff - $data/live-6.18.extfrag_index"

# 3. Each C# block of the README is a whole program: it builds and runs against the package.
cat >"$work/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
CONFIG
python3 - "$root/README.md" "$work/readme" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding='utf-8').read()
for n, m in enumerate(re.finditer(r'^```csharp\n(.*?)^```', text, re.S | re.M), 1):
    line = text[:m.start()].count('\n') + 1
    d = os.path.join(sys.argv[2], f'block{n}-line{line}')
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, 'Program.cs'), 'w').write(m.group(1))
PY
for dir in "$work"/readme/*/; do
    name="$(basename "$dir")"
    cat >"$dir/Example.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <RestorePackagesPath>$work/packages</RestorePackagesPath>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="ZonedBuddy" Version="$version" />
  </ItemGroup>
</Project>
PROJ
    cp "$work/nuget.config" "$dir/"
    check "README $name builds against ZonedBuddy $version" dotnet build "$dir" -c Release -o "$dir/out"
    check "README $name runs" bash -c "cd '$dir' && dotnet out/Example.dll"
done

echo "package checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
