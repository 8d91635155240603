#!/usr/bin/env bash
# Builds the release: one static x86_64 Linux executable, zk-tools, that runs
# as whichever of the six tools its name says (zk-lock, ... are symbolic
# links to it), their man pages and completions, packed three ways in dist/:
#
#   dist/zk-tools-VERSION-x86_64-linux.tar.gz   bin/, share/{man,bash-completion,zsh,fish},
#                                               share/doc/zk-tools/{LICENSE,README.md,CHANGELOG.md,SHA256SUMS}
#   dist/zk-tools_VERSION-1_amd64.deb           the same, at Debian's paths (cargo-deb)
#   dist/rootfs/                                the container image's whole file system
#                                               (what the Dockerfile copies into scratch)
#   dist/SHA256SUMS                             of the tarball and the .deb
#
#   scripts/release.sh            all of it (installs cargo-deb when missing)
#   scripts/release.sh --no-deb   tarball and rootfs only (the Dockerfile's build stage)
#
# Static, on glibc: the toolchain here has no musl target and none can be
# fetched, so the binaries link glibc statically (-C target-feature=+crt-static).
# getaddrinfo then still reads /etc/hosts and /etc/resolv.conf ("files" and
# "dns" are built into libc.a), but NSS modules (nss-systemd, nss-mdns, LDAP,
# sssd) named in /etc/nsswitch.conf cannot be loaded: names only those resolve
# must be given as addresses. The README's Install section says the same.
#
# Build prerequisites: Rust, and a C compiler, since rustls's crypto provider
# (aws-lc-rs, the default of the rustls that zookeeper-client's "tls" feature
# pulls in) compiles aws-lc from C; its cc-based build needs no cmake on
# x86_64 Linux. libc.a comes with libc6-dev. Missing ones are installed with
# apt-get when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=1
for arg in "$@"; do
  case $arg in
    --no-deb) deb=0 ;;
    *) echo "release.sh: unknown argument '$arg' (only --no-deb)" >&2; exit 2 ;;
  esac
done

tools=(zk-members zk-lock zk-elect zk-health zk-ensemble zk-tree)
target=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || { echo "release.sh: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }
name=zk-tools-$version-x86_64-linux
# Fixed timestamps and owners make the archive the same bytes for the same
# tree. Not exported: cc's build scripts watch SOURCE_DATE_EPOCH, and a new
# value would rebuild aws-lc and everything after it.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

missing=()
command -v cc >/dev/null || missing+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "release.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2; exit 1; }
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# With an explicit --target, RUSTFLAGS reach only the target's crates, not
# build scripts and proc macros (which cannot be linked statically).
# getrandom's default Linux backend finds libc's getrandom() through dlsym,
# which a static binary lacks, and falls back to /dev/urandom: a scratch
# image without /dev would have no randomness. Call getrandom() directly.
RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
  cargo build --release --locked --target "$target" --bins -p zk-tools
bindir=target/$target/release

if ! ldd "$bindir/zk-tools" 2>&1 | grep -qE 'not a dynamic executable|statically linked'; then
  echo "release.sh: $bindir/zk-tools is not static:" >&2
  ldd "$bindir/zk-tools" >&2
  exit 1
fi

# zk-tools and a relative link per tool name in DIR.
install_tools() {
  install -m 755 "$bindir/zk-tools" "$1/"
  local tool
  for tool in "${tools[@]}"; do ln -sfn zk-tools "$1/$tool"; done
}

rm -rf dist
mkdir -p dist
docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
BIN_DIR=$bindir OUT=$docs scripts/gen-docs.sh >/dev/null

# Tarball: an FHS tree, so `tar -C /usr/local --strip-components=1` installs it.
stage=dist/$name
install -d "$stage/bin" "$stage/share/man/man1" "$stage/share/bash-completion/completions" \
  "$stage/share/zsh/site-functions" "$stage/share/fish/vendor_completions.d" "$stage/share/doc/zk-tools"
install_tools "$stage/bin"
install -m 644 "$docs"/man/*.1 "$stage/share/man/man1/"
install -m 644 "$docs"/completions/bash/* "$stage/share/bash-completion/completions/"
install -m 644 "$docs"/completions/zsh/* "$stage/share/zsh/site-functions/"
install -m 644 "$docs"/completions/fish/* "$stage/share/fish/vendor_completions.d/"
install -m 644 LICENSE README.md CHANGELOG.md "$stage/share/doc/zk-tools/"
(cd "$stage" && find bin share -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > share/doc/zk-tools/SHA256SUMS)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -C dist -cf - "$name" | gzip -9n > "dist/$name.tar.gz"

# Container root file system: the binaries, CA certificates (for --tls-ca),
# an unprivileged user, and name-service files a static glibc reads. A
# container runtime mounts its own /etc/hosts and /etc/resolv.conf over these.
rootfs=dist/rootfs
install -d "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/usr/share/doc/zk-tools"
install -d -m 1777 "$rootfs/tmp"
# Where the tools may write (--output), as /tmp: COPY makes every file
# root's, so the user the image runs as, nobody, writes only where anyone
# may; a fresh named volume mounted here takes this mode.
install -d -m 1777 "$rootfs/var/lib/zk-tools"
install_tools "$rootfs/usr/local/bin"
install -m 644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
install -m 644 LICENSE "$rootfs/usr/share/doc/zk-tools/"
printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
chmod 644 "$rootfs"/etc/passwd "$rootfs"/etc/group "$rootfs"/etc/nsswitch.conf "$rootfs"/etc/hosts

if [ "$deb" = 1 ]; then
  command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
  # Debian wants compressed man pages; cargo-deb takes them from here, and
  # the tools' links (dangling here, so kept as links) from target/deb-links
  # (see [package.metadata.deb] in zk-tools/Cargo.toml).
  debdocs=target/deb-docs
  rm -rf "$debdocs" target/deb-links
  cp -r "$docs" "$debdocs"
  gzip -9n "$debdocs"/man/*.1
  mkdir -p target/deb-links
  for tool in "${tools[@]}"; do ln -s zk-tools "target/deb-links/$tool"; done
  cargo deb --locked --no-build --no-strip -p zk-tools --target "$target" --output dist/ >/dev/null
fi

downloads=("$name.tar.gz")
[ "$deb" = 0 ] || downloads+=("$(cd dist && ls -- *.deb)")
(cd dist && sha256sum -- "${downloads[@]}" > SHA256SUMS)
rm -rf "$stage"
echo "release.sh: zk-tools $version in dist/:"
for f in "${downloads[@]}"; do echo "  $f  $(stat -c %s "dist/$f") bytes"; done
echo "  rootfs/ (the container image)  $(du -sk "$rootfs" | cut -f1) KiB"
