#!/usr/bin/env bash
# Build the seed corpora for the pspf fuzz targets from the conformance data.
#
#   fuzz/seed.sh [CONFORMANCE_DIR]
#
# CONFORMANCE_DIR defaults to the repository's testdata/conformance. Writes fuzz/corpus/<target>/ (git-ignored); run it again at any
# time, it only adds files. Needs bash, coreutils (od, dd, tail) and gzip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
conf="${1:-$here/../testdata/conformance}"
if [[ ! -d "$conf/packages" ]]; then
    echo "seed.sh: no packages/ under $conf (pass the conformance directory as argument)" >&2
    exit 1
fi
corpus="$here/corpus"
mkdir -p "$corpus/index" "$corpus/descriptor_table" "$corpus/metadata" "$corpus/tar_slot"

# Little-endian unsigned integer of N bytes at byte offset OFF of FILE.
le() { od -An -v --endian=little -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' \n'; }

shopt -s nullglob
packages=("$conf"/packages/*.psp)
if (( ${#packages[@]} == 0 )); then
    echo "seed.sh: no .psp files in $conf/packages" >&2
    exit 1
fi

for psp in "${packages[@]}"; do
    name="$(basename "$psp" .psp)"
    size="$(stat -c %s "$psp")"
    trailer=$((size - 8200))
    index=$((trailer + 4))

    # index: the whole file (its tail is the trailer) and the bare trailer.
    cp "$psp" "$corpus/index/$name.psp"
    tail -c 8200 "$psp" > "$corpus/index/$name.trailer"

    # tar_slot: the whole package.
    cp "$psp" "$corpus/tar_slot/$name.psp"

    # descriptor_table: mode byte 0 ("as many descriptors as the body holds") + the slot table.
    table_off="$(le "$psp" $((index + 40)) 8)"
    count="$(le "$psp" $((index + 56)) 4)"
    if (( count > 0 && table_off + count * 64 <= trailer )); then
        {
            printf '\x00'
            dd if="$psp" bs=1 skip="$table_off" count=$((count * 64)) status=none
        } > "$corpus/descriptor_table/$name.table"
    fi

    # metadata: the gzip member exactly as stored in the package.
    meta_off="$(le "$psp" $((index + 24)) 8)"
    meta_size="$(le "$psp" $((index + 32)) 8)"
    if (( meta_size > 0 && meta_off + meta_size <= trailer )); then
        dd if="$psp" bs=1 skip="$meta_off" count="$meta_size" status=none \
            > "$corpus/metadata/$name.stored.gz"
    fi
done

# metadata: the plain JSON and a fresh gzip of it.
for json in "$conf"/packages/*.metadata.json; do
    name="$(basename "$json" .json)"
    cp "$json" "$corpus/metadata/$name.json"
    gzip -9 -n -c "$json" > "$corpus/metadata/$name.json.gz"
done

# tar_slot also feeds the raw input to unpack_tar: give it the input archives as plain tar.
for tgz in "$conf"/inputs/*/*.tgz; do
    name="$(basename "$(dirname "$tgz")")-$(basename "$tgz" .tgz)"
    gzip -d -c "$tgz" > "$corpus/tar_slot/$name.tar"
done

for target in index descriptor_table metadata tar_slot; do
    n=$(find "$corpus/$target" -type f | wc -l)
    echo "seed.sh: $target: $n seed files in ${corpus#"$here"/}/$target"
done
