#!/usr/bin/env bash
# Builds the release archives: deploy/release.sh VERSION [OUTDIR] [TARGET...]
#
#   VERSION  x.y.z (a leading "v" is dropped), stamped into every binary
#            (--version, the web UI footer, /health.php)
#   OUTDIR   default dist/
#   TARGET   goos/goarch, default linux/amd64 linux/arm64 windows/amd64
#
# Every binary needs cgo (go-sqlite3), so each target is built with its own C
# cross compiler from Debian's packages: gcc (native), aarch64-linux-gnu-gcc
# (gcc-aarch64-linux-gnu + libc6-dev-arm64-cross) and x86_64-w64-mingw32-gcc
# (gcc-mingw-w64-x86-64). Each archive holds one folder
# supervisor-VERSION-GOOS-GOARCH/ with bin/, CONFIG/ (examples, never a
# config.json), deploy/ (the systemd units on Linux, the Task Scheduler files and
# scripts on Windows; no tests) and README.md; SHA256SUMS lists every archive. Linux archives are
# .tar.gz, the Windows one .zip.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: deploy/release.sh VERSION [OUTDIR] [TARGET...]}"
version="${version#v}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]]; then
  echo "release: version \"$version\" is not x.y.z (optionally -suffix): run e.g. task release VERSION=1.4.0" >&2
  exit 2
fi
out="${2:-dist}"
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64 windows/amd64)

cc_for() {
  case "$1" in
    linux/amd64) echo "${CC_LINUX_AMD64:-gcc}" ;;
    linux/arm64) echo "${CC_LINUX_ARM64:-aarch64-linux-gnu-gcc}" ;;
    windows/amd64) echo "${CC_WINDOWS_AMD64:-x86_64-w64-mingw32-gcc}" ;;
    *) echo "release: unsupported target $1 (linux/amd64, linux/arm64, windows/amd64)" >&2; return 1 ;;
  esac
}

mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
ldflags="-s -w -X github.com/localsupervisor/supervisor/pkg/version.Version=$version"

archives=()
for target in "${targets[@]}"; do
  goos="${target%/*}" goarch="${target#*/}"
  cc="$(cc_for "$target")"
  command -v "$cc" >/dev/null || { echo "release: C compiler $cc for $target is missing: apt-get install $( [ "$goos" = windows ] && echo gcc-mingw-w64-x86-64 || echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross )" >&2; exit 1; }
  name="supervisor-$version-$goos-$goarch"
  dir="$stage/$name"
  mkdir -p "$dir/bin" "$dir/CONFIG" "$dir/deploy"
  echo "== $name ($(date -u +%T))"
  CGO_ENABLED=1 GOOS="$goos" GOARCH="$goarch" CC="$cc" go build -trimpath -ldflags "$ldflags" -o "$dir/bin/" ./cmd/...
  cp README.md "$dir/"
  for f in CONFIG/*.example.json CONFIG/README.md CONFIG/forge_recipes.json; do
    [ -e "$f" ] && cp "$f" "$dir/CONFIG/"
  done
  cp deploy/README.md "$dir/deploy/"
  if [ "$goos" = windows ]; then cp -r deploy/windows "$dir/deploy/"; else cp -r deploy/systemd "$dir/deploy/"; fi
  rm -f "$dir"/deploy/*/*_test.go
  if [ "$goos" = windows ]; then
    archive="$name.zip"
    rm -f "$out/$archive"
    (cd "$stage" && zip -qr -X "$out/$archive" "$name")
  else
    archive="$name.tar.gz"
    tar -C "$stage" --owner=0 --group=0 --sort=name -czf "$out/$archive" "$name"
  fi
  archives+=("$archive")
  rm -rf "$dir"
done
(cd "$out" && sha256sum "${archives[@]}" > SHA256SUMS)
echo "release $version: ${archives[*]} and SHA256SUMS in $out"
