#!/usr/bin/env bash
# What a user does with the packages, checked from this clone (issue 15): `dotnet pack` at the root
# builds every package; each carries its license, readme, commit and symbols; the tool's RID-specific
# packages are packed beside it (the native linux-x64 one, on a linux-x64 machine, and the
# framework-dependent fallback `any`); the `buddy` tool installs from the local feed into a
# temporary tool path, is the native executable, and runs (`--version`, `replay --json` of the
# bundled trace, `frag` against the kernel's own output); the fallback installs and runs too; and
# every C# block of README.md builds and runs as its own console program against the packed
# ZonedBuddy package.
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

# 1. Every package, from the root, as a user types it; ZonedBuddy.Tool is then the pointer package
# (it names the RID-specific ones). The tool's native package is packed on its own platform
# (Native AOT compiles for the machine it runs on), the fallback anywhere.
check "dotnet pack at the root" dotnet pack -c Release -o "$feed"
native=""
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    native=linux-x64
    check "dotnet pack -r linux-x64 (Native AOT)" dotnet pack -c Release -r linux-x64 src/Buddy.Tool -o "$feed"
fi
check "dotnet pack -r any -p:PublishAot=false (the framework-dependent fallback)" \
    dotnet pack -c Release -r any -p:PublishAot=false src/Buddy.Tool -o "$feed"
# Package id, and whether it has a symbols package: the pointer package holds no code, and the
# native one's debug information (a .dbg file) is not a .pdb a symbols package could carry.
packages=("ZonedBuddy yes" "ZonedBuddy.Tracing yes" "ZonedBuddy.Simulation yes" "ZonedBuddy.Tool no" "ZonedBuddy.Tool.any yes")
[ -n "$native" ] && packages+=("ZonedBuddy.Tool.$native no")
for entry in "${packages[@]}"; do
    read -r id symbols <<<"$entry"
    nupkg="$feed/$id.$version.nupkg"
    if [ ! -f "$nupkg" ] || { [ "$symbols" = yes ] && [ ! -f "$feed/$id.$version.snupkg" ]; }; then
        fail "$id $version: package$([ "$symbols" = yes ] && echo " and symbols package")"
        continue
    fi
    nuspec="$(zip_cat "$nupkg" "$id.nuspec")"
    files="$(zip_list "$nupkg")"
    if grep -q '<license type="expression">MIT</license>' <<<"$nuspec" && grep -q '<readme>README.md</readme>' <<<"$nuspec" \
        && grep -q '<repository type="git"[^>]* commit="[0-9a-f]\{40\}"' <<<"$nuspec" && grep -qx 'README.md' <<<"$files" \
        && grep -qx 'LICENSE' <<<"$files" && grep -q '<tags>' <<<"$nuspec"; then
        ok "$id $version: $([ "$symbols" = yes ] && echo "symbols, ")MIT license, readme, tags, commit"
    else
        fail "$id $version: metadata (nuspec below)"
        sed 's/^/    /' <<<"$nuspec"
    fi
done
for rid in $native any; do
    tool_files="$(zip_list "$feed/ZonedBuddy.Tool.$rid.$version.nupkg" 2>/dev/null)"
    if grep -q 'data/linux-6.18-dotnet-build.trace.gz$' <<<"$tool_files" && ! grep -qE '/(cs|de|fr|ja|zh-Hans)/' <<<"$tool_files" \
        && ! grep -v 'DotnetToolSettings.xml$' <<<"$tool_files" | grep -q '^tools/.*\.xml$'; then
        ok "the tool package ZonedBuddy.Tool.$rid holds the bundled trace, no satellite folders and no XML docs"
    else
        fail "the tool package ZonedBuddy.Tool.$rid's files"
    fi
done
# The pointer package names the native package and the fallback; the native one is an executable
# alone (no .dll, no .pdb, no .dbg); the fallback runs on `dotnet`.
pointer_names_both() {
    local settings
    settings="$(zip_cat "$feed/ZonedBuddy.Tool.$version.nupkg" tools/any/any/DotnetToolSettings.xml)" || return 1
    grep -q 'RuntimeIdentifier="linux-x64" Id="ZonedBuddy.Tool.linux-x64"' <<<"$settings" \
        && grep -q 'RuntimeIdentifier="any" Id="ZonedBuddy.Tool.any"' <<<"$settings"
}
native_layout() {
    local nupkg="$feed/ZonedBuddy.Tool.$1.$version.nupkg" files
    files="$(zip_list "$nupkg" | grep '^tools/')" || return 1
    grep -qx "tools/any/$1/Buddy.Tool" <<<"$files" && ! grep -qE '\.(dll|pdb|dbg|json)$' <<<"$files" \
        && zip_cat "$nupkg" "tools/any/$1/DotnetToolSettings.xml" | grep -q 'EntryPoint="Buddy.Tool" Runner="executable"'
}
check "the pointer package ZonedBuddy.Tool names ZonedBuddy.Tool.linux-x64 and ZonedBuddy.Tool.any" pointer_names_both
if [ -n "$native" ]; then
    check "ZonedBuddy.Tool.$native holds the native Buddy.Tool alone (no .dll, .pdb, .dbg)" native_layout "$native"
fi
fallback_layout() {
    zip_cat "$feed/ZonedBuddy.Tool.any.$version.nupkg" tools/net10.0/any/DotnetToolSettings.xml \
        | grep -q 'EntryPoint="Buddy.Tool.dll" Runner="dotnet"'
}
check "ZonedBuddy.Tool.any runs Buddy.Tool.dll on dotnet" fallback_layout

# 2. The tool, installed from the feed, runs as `buddy`. Packages restore into a folder of this run:
# every build of the repository is version 0.1.0, so the machine's cache may hold an older 0.1.0.
tools="$work/tools"
check "dotnet tool install ZonedBuddy.Tool from the local feed" \
    env NUGET_PACKAGES="$work/packages" dotnet tool install --tool-path "$tools" --add-source "$feed" ZonedBuddy.Tool --version "$version"
buddy="$tools/buddy"
if [ -n "$native" ]; then
    # The command is the package's executable itself (a link into the tool store), not an apphost
    # that starts the runtime: an ELF file, with no Buddy.Tool.dll anywhere in the installed tool.
    installed_native() {
        local target
        target="$(readlink -f "$buddy")"
        [ "$target" != "$buddy" ] && [ "$(head -c 4 "$target" | tail -c 3)" = ELF ] \
            && [ -z "$(find "$tools" -name Buddy.Tool.dll)" ]
    }
    check "the installed buddy is the native executable (ELF, no Buddy.Tool.dll)" installed_native
fi
check "buddy --version prints $version" bash -c "'$buddy' --version | grep -q '^$version'"
check "buddy without a command names the commands, exit code 2" \
    bash -c "'$buddy' 2>'$work/nocommand.err'; [ \$? -eq 2 ] && grep -q '^buddy: no command given; the commands are demo, frag' '$work/nocommand.err'"
check "buddy --help says buddy" bash -c "'$buddy' --help | grep -q '^  buddy \[command\]'"
check "buddy replay --json (the bundled trace, every policy)" \
    bash -c "'$buddy' replay --json '$work/replay.json' >/dev/null && python3 -c \"import json,sys; d=json.load(open('$work/replay.json')); sys.exit(0 if len(d['policies']) == 7 and all('mobility' in p for p in d['policies']) else 1)\""
data=tests/Buddy.Tests/Data
check "buddy frag matches the kernel's unusable_index" bash -c "'$buddy' frag $data/live-6.18.buddyinfo --index unusable | diff - $data/live-6.18.unusable_index"
check "buddy frag matches the kernel's extfrag_index" bash -c "'$buddy' frag $data/live-6.18.buddyinfo --index extfrag | diff - $data/live-6.18.extfrag_index"
# The fallback, as a platform without a native package gets it: installed on its own here.
check "dotnet tool install ZonedBuddy.Tool.any (the fallback) from the local feed" \
    env NUGET_PACKAGES="$work/packages" dotnet tool install --tool-path "$work/tools-any" --add-source "$feed" ZonedBuddy.Tool.any --version "$version"
check "the fallback buddy runs on dotnet: --version, frag" bash -c "'$work/tools-any/buddy' --version | grep -q '^$version' \
    && [ -n \"\$(find '$work/tools-any' -name Buddy.Tool.dll)\" ] && '$work/tools-any/buddy' frag $data/live-6.18.buddyinfo --index unusable | diff - $data/live-6.18.unusable_index"

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
