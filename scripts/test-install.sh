#!/usr/bin/env bash
# Checks every install path the README documents, on this machine (root,
# Debian): builds the release with scripts/release.sh, then
#   - the tarball: checksums, the static zk-tools and its six links, man
#     pages, completions;
#   - the static binary against a real ZooKeeper reached by host name
#     (localhost), so getaddrinfo in the static glibc is exercised;
#   - the container root file system (dist/rootfs): the binaries run chrooted
#     in it, with nothing else there, and reach ZooKeeper;
#   - the image: the Dockerfile's final stage built from dist/ with buildah
#     (its build stage's rust image cannot be fetched here), and zk-ensemble,
#     zk-lock and zk-health run from it as the image's user, nobody;
#   - the .deb: dpkg -i, the tools on PATH, `man -w` for every page, the
#     completions at Debian's paths, then dpkg -r leaves none of them;
#   - scripts/install.sh PREFIX: binaries, man pages and completions;
#   - the README's `cargo install --locked --path` loop (a debug build).
# Every man page a page refers to must be installed too.
#
#   scripts/test-install.sh        (ZK_TEST_BASE_PORT picks the server's port, default 22181)
set -euo pipefail
cd "$(dirname "$0")/.."
began=$(date +%s)

fail() { echo "test-install.sh: FAIL: $*" >&2; exit 1; }
step() { printf 'test-install.sh: %s (%ss)\n' "$*" "$(($(date +%s) - began))"; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (dpkg -i, chroot)"

tools=(zk-members zk-lock zk-elect zk-health zk-ensemble zk-tree)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
name=zk-tools-$version-x86_64-linux
deb=dist/zk-tools_${version}-1_amd64.deb

step "building the release"
scripts/release.sh
if ! command -v buildah >/dev/null; then
  apt-get install -y -qq buildah >/dev/null || fail "cannot install buildah (apt-get install buildah)"
fi

work=$(mktemp -d)
export ZK_LOCAL_DIR=$work/zk ZK_BASE_PORT=${ZK_TEST_BASE_PORT:-22181}
export ZK_ADMIN_BASE_PORT=$((ZK_BASE_PORT + 6000))
cleanup() {
  scripts/zookeeper.sh clean >/dev/null 2>&1 || true
  if dpkg-query -W -f='${Status}' zk-tools 2>/dev/null | grep -q "ok installed"; then
    dpkg -r zk-tools >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Every page a page refers to (`zk-members-list(1)`) must be in DIR. A gap
# is reported at the end, so the other install paths are still checked.
missing_pages=()
check_references() {
  local dir=$1 page ref
  for page in "$dir"/zk-*.1*; do
    for ref in $(zcat -f "$page" | sed 's/\\-/-/g; s/\\f[BIRP]//g' | grep -o 'zk-[a-z-]*(1)' | sed 's/(1)$//' | sort -u); do
      ls "$dir/$ref.1"* >/dev/null 2>&1 || missing_pages+=("$(basename "$page") names $ref(1), not in $dir")
    done
  done
}

step "tarball"
(cd dist && sha256sum --quiet -c SHA256SUMS) || fail "dist/SHA256SUMS does not match"
tar -xzf "dist/$name.tar.gz" -C "$work"
tree=$work/$name
(cd "$tree" && sha256sum --quiet -c share/doc/zk-tools/SHA256SUMS) || fail "the tarball's SHA256SUMS does not match"
ldd "$tree/bin/zk-tools" 2>&1 | grep -qE 'not a dynamic executable|statically linked' || fail "zk-tools is not static"
echo "  zk-tools (all six tools): $(stat -c %s "$tree/bin/zk-tools") bytes"
for tool in "${tools[@]}"; do
  [ "$(readlink "$tree/bin/$tool")" = zk-tools ] || fail "bin/$tool is not a link to zk-tools in the tarball"
  "$tree/bin/$tool" --help >/dev/null || fail "$tool --help"
  [ -s "$tree/share/man/man1/$tool.1" ] || fail "no man page $tool.1 in the tarball"
  grep -q '^\.TH' "$tree/share/man/man1/$tool.1" || fail "$tool.1 is no man page"
  [ -s "$tree/share/bash-completion/completions/$tool" ] || fail "no bash completion for $tool"
  [ -s "$tree/share/zsh/site-functions/_$tool" ] || fail "no zsh completion for $tool"
  [ -s "$tree/share/fish/vendor_completions.d/$tool.fish" ] || fail "no fish completion for $tool"
done
for f in LICENSE README.md CHANGELOG.md; do [ -s "$tree/share/doc/zk-tools/$f" ] || fail "no $f in the tarball"; done
check_references "$tree/share/man/man1"
bash -n "$tree/share/bash-completion/completions/zk-lock" || fail "bash completion does not parse"

step "static binary against ZooKeeper, by host name"
scripts/zookeeper.sh install >/dev/null
scripts/zookeeper.sh start 1 >/dev/null
zk=localhost:$ZK_BASE_PORT
"$tree/bin/zk-lock" --zk "$zk" -n /test-install/lock -- true || fail "static zk-lock against $zk"
"$tree/bin/zk-ensemble" --zk "$zk" check >/dev/null || fail "static zk-ensemble check against $zk"
out=$("$tree/bin/zk-members" --zk "$zk" list /test-install/lock)
[ "$out" = "[]" ] || fail "static zk-members list: expected no lock node once zk-lock exited, got $out"
printf 'v1' | "$tree/bin/zk-tree" --zk "$zk" set --create /test-install/data >/dev/null || fail "static zk-tree set against $zk"
[ "$("$tree/bin/zk-tree" --zk "$zk" get /test-install/data)" = v1 ] || fail "static zk-tree get: expected v1"

step "container root file system (chroot dist/rootfs)"
rootfs=dist/rootfs
extra=$(cd "$rootfs" && find . -type f | grep -vE '^\./(usr/local/bin/zk-tools|etc/(passwd|group|nsswitch\.conf|hosts|ssl/certs/ca-certificates\.crt)|usr/share/doc/zk-tools/LICENSE)$' || true)
[ -z "$extra" ] || fail "unexpected files in the rootfs: $extra"
# A container runtime gives the image a /dev; this chroot gets only
# /dev/null, no /dev/urandom: the static binaries take their randomness
# (lock node names) from getrandom(2), so they must work without it.
install -d "$rootfs/dev"
mknod -m 666 "$rootfs/dev/null" c 1 3
for tool in "${tools[@]}"; do
  [ "$(readlink "$rootfs/usr/local/bin/$tool")" = zk-tools ] || fail "the rootfs's $tool is not a link to zk-tools"
  chroot --userspec=65534:65534 "$rootfs" "/usr/local/bin/$tool" --help >/dev/null || fail "chroot: $tool --help"
done
chroot --userspec=65534:65534 "$rootfs" /usr/local/bin/zk-lock --zk "$zk" -n /test-install/chroot -- /usr/local/bin/zk-ensemble --zk "$zk" check >/dev/null \
  || fail "chroot: zk-lock around zk-ensemble check against $zk"
chroot --userspec=65534:65534 "$rootfs" /usr/local/bin/zk-tree --zk "$zk" dump /test-install | grep -q '"path":"/test-install/data","data":"v1"' \
  || fail "chroot: zk-tree dump against $zk"
# A name /etc/hosts does not know goes to DNS; with no resolver configured
# that is a clear connection failure, never a crash.
set +e
chroot "$rootfs" /usr/local/bin/zk-members --zk no-such-host.invalid:2181 --connect-timeout 1s list /x 2>"$work/err"
code=$?
set -e
[ "$code" = 69 ] || fail "chroot: an unknown host should exit 69, got $code: $(cat "$work/err")"
rm -r "$rootfs/dev"
echo "  rootfs (image content): $(du -sk "$rootfs" | cut -f1) KiB"

step "container image (buildah)"
# The Dockerfile's final stage, taking dist/rootfs from the build context
# instead of the build stage. `podman run` cannot start containers in this
# VM (crun cannot set rlimits); `buildah run --isolation chroot` can.
awk '/^FROM scratch/ { final = 1 } final' Dockerfile \
  | sed 's|--from=build ||; s|/src/dist/||' > "$work/Containerfile"
grep -q '^COPY rootfs/ /$' "$work/Containerfile" || fail "the Dockerfile's final stage no longer copies the rootfs: $(cat "$work/Containerfile")"
image=localhost/zk-tools:test-install
buildah bud --isolation chroot -q -f "$work/Containerfile" -t "$image" dist >/dev/null || fail "buildah bud of the final stage"
ctr=$(buildah from "$image")
in_image() { buildah run --isolation chroot --network host "$ctr" -- "$@"; }
[ "$(buildah inspect --format '{{.OCIv1.Config.User}}' "$ctr")" = 65534:65534 ] || fail "the image does not run as nobody"
in_image zk-ensemble --zk "$zk" check >/dev/null || fail "image: zk-ensemble check against $zk"
in_image zk-lock --zk "$zk" -n /test-install/image-lock -- zk-ensemble --zk "$zk" check >/dev/null \
  || fail "image: zk-lock around zk-ensemble check"
# zk-health registers while ZooKeeper's own port answers, and its command
# (run from the image too) returns once the registration is seen.
in_image zk-health --zk "$zk" /test-install/image-health --id image --tcp "127.0.0.1:$ZK_BASE_PORT" \
  -- zk-members --zk "$zk" wait /test-install/image-health --min 1 --timeout 30s >/dev/null \
  || fail "image: zk-health registering while its probe passes"
# What the tools write lands as nobody in the one directory given to it.
in_image zk-ensemble --zk "$zk" status --output /var/lib/zk-tools/status.json || fail "image: --output into /var/lib/zk-tools"
mnt=$(buildah mount "$ctr")
[ "$(stat -c %u "$mnt/var/lib/zk-tools/status.json")" = 65534 ] || fail "image: status.json is not nobody's"
buildah umount "$ctr" >/dev/null
buildah rm "$ctr" >/dev/null
echo "  image $image: $(buildah images --format '{{.Size}}' "$image")"
buildah rmi "$image" >/dev/null

step ".deb (dpkg -i)"
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
[ -x /usr/bin/zk-tools ] || fail "no /usr/bin/zk-tools after dpkg -i"
for tool in "${tools[@]}"; do
  [ "$(command -v "$tool")" = "/usr/bin/$tool" ] || fail "$tool is not /usr/bin/$tool"
  [ "$(readlink "/usr/bin/$tool")" = zk-tools ] || fail "/usr/bin/$tool is not a link to zk-tools"
  "$tool" --help >/dev/null || fail "$tool --help after dpkg -i"
  man -w "$tool" >/dev/null || fail "man -w $tool"
  [ -s "/usr/share/bash-completion/completions/$tool" ] || fail "no bash completion for $tool"
  [ -s "/usr/share/zsh/vendor-completions/_$tool" ] || fail "no zsh completion for $tool"
  [ -s "/usr/share/fish/vendor_completions.d/$tool.fish" ] || fail "no fish completion for $tool"
done
pages=$(dpkg -L zk-tools | grep -c '^/usr/share/man/man1/.*\.1\.gz$')
for page in $(dpkg -L zk-tools | sed -n 's|^/usr/share/man/man1/\(.*\)\.1\.gz$|\1|p'); do
  man -w "$page" >/dev/null || fail "man -w $page"
done
check_references /usr/share/man/man1
zk-lock --zk "$zk" -n /test-install/deb -- true || fail "packaged zk-lock against $zk"
dpkg -r zk-tools >/dev/null || fail "dpkg -r zk-tools"
for tool in "${tools[@]}"; do
  [ ! -e "/usr/bin/$tool" ] && [ ! -L "/usr/bin/$tool" ] || fail "/usr/bin/$tool left after dpkg -r"
  [ ! -e "/usr/share/man/man1/$tool.1.gz" ] || fail "$tool.1.gz left after dpkg -r"
done
echo "  $deb: $(stat -c %s "$deb") bytes, $pages man pages"

step "scripts/install.sh PREFIX"
prefix=$work/prefix
scripts/install.sh "$prefix" >/dev/null
for tool in "${tools[@]}"; do
  "$prefix/bin/$tool" --help >/dev/null || fail "install.sh: $tool"
  [ -s "$prefix/share/man/man1/$tool.1" ] || fail "install.sh: no $tool.1"
  [ -s "$prefix/share/bash-completion/completions/$tool" ] || fail "install.sh: no bash completion for $tool"
  [ -s "$prefix/share/zsh/site-functions/_$tool" ] || fail "install.sh: no zsh completion for $tool"
  [ -s "$prefix/share/fish/vendor_completions.d/$tool.fish" ] || fail "install.sh: no fish completion for $tool"
done
MANPATH=$prefix/share/man man -w zk-elect | grep -q "^$prefix/" || fail "install.sh: man does not find zk-elect under $prefix"

# The README's cargo install loop, as written there. A debug build in the
# workspace's target dir keeps this cheap: what it checks is that each
# crate installs its binary with --locked, not the optimiser.
step "cargo install --locked --path (the README's loop)"
loop=$(sed -n 's/^| `cargo install` | `\(.*\)` |.*$/\1/p' README.md)
[ -n "$loop" ] || fail "no cargo install loop in README.md's Install table"
(export CARGO_TARGET_DIR=$PWD/target CARGO_INSTALL_ROOT=$work/cargo
 eval "${loop//cargo install /cargo install --debug --quiet }") || fail "the README's cargo install loop"
for tool in "${tools[@]}"; do
  "$work/cargo/bin/$tool" --help >/dev/null || fail "cargo install: $tool"
done

if [ ${#missing_pages[@]} -gt 0 ]; then
  printf '  %s\n' "${missing_pages[@]}" | sort -u >&2
  fail "man pages name pages that are not installed"
fi
step "all install paths pass"
