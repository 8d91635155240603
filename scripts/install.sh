#!/usr/bin/env bash
# Installs the tools' man pages and bash/zsh/fish completions under PREFIX,
# and the binaries too when this tree has built them.
#
#   scripts/install.sh /usr/local      after scripts/release.sh or cargo build --release:
#                                      binaries, man pages, completions
#   scripts/install.sh ~/.local        after `cargo install`: man pages and completions
#                                      for the binaries found on PATH
#
# Binaries come from the first of: $BIN_DIR, the static release build
# (target/x86_64-unknown-linux-gnu/release), target/release. One holding the
# one zk-tools executable installs it with a link per tool name; else one
# holding all six tools' own binaries installs those. Only if none has either
# are the tools taken from PATH, and then only their man pages and
# completions are installed (the binaries are installed already).
#
# Layout under PREFIX:
#   bin/zk-*                                  share/man/man1/zk-*.1
#   share/bash-completion/completions/zk-*    share/zsh/site-functions/_zk-*
#   share/fish/vendor_completions.d/zk-*.fish
# bash-completion and fish read these under /usr/local and /usr; zsh reads
# /usr/local/share/zsh/site-functions. For ~/.local, add
# `fpath+=(~/.local/share/zsh/site-functions)` to .zshrc.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: scripts/install.sh PREFIX   (e.g. /usr/local or ~/.local)" >&2; exit 2; }
prefix=$1
tools=(zk-members zk-lock zk-elect zk-health zk-ensemble zk-tree)

has_all() {
  local tool
  for tool in "${tools[@]}"; do [ -x "$1/$tool" ] || return 1; done
}

bindir=
copy_bins=1
multicall=0
for dir in ${BIN_DIR:+"$BIN_DIR"} target/x86_64-unknown-linux-gnu/release target/release; do
  if [ -x "$dir/zk-tools" ]; then bindir=$dir; multicall=1; break; fi
  if has_all "$dir"; then bindir=$dir; break; fi
done
if [ -z "$bindir" ]; then
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || {
      echo "install.sh: $tool is neither built here (scripts/release.sh, cargo build --release) nor on PATH (cargo install)" >&2
      exit 1
    }
  done
  bindir=$(dirname "$(command -v zk-lock)")
  copy_bins=0
fi

docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
BIN_DIR=$bindir OUT=$docs scripts/gen-docs.sh >/dev/null

install -d "$prefix/share/man/man1" "$prefix/share/bash-completion/completions" \
  "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
if [ "$copy_bins" = 1 ]; then
  install -d "$prefix/bin"
  if [ "$multicall" = 1 ]; then
    install -m 755 "$bindir/zk-tools" "$prefix/bin/"
    for tool in "${tools[@]}"; do ln -sfn zk-tools "$prefix/bin/$tool"; done
  else
    for tool in "${tools[@]}"; do install -m 755 "$bindir/$tool" "$prefix/bin/"; done
  fi
fi
install -m 644 "$docs"/man/*.1 "$prefix/share/man/man1/"
install -m 644 "$docs"/completions/bash/* "$prefix/share/bash-completion/completions/"
install -m 644 "$docs"/completions/zsh/* "$prefix/share/zsh/site-functions/"
install -m 644 "$docs"/completions/fish/* "$prefix/share/fish/vendor_completions.d/"

pages=$(find "$docs/man" -name '*.1' | wc -l)
if [ "$copy_bins" = 1 ]; then
  if [ "$multicall" = 1 ]; then what="zk-tools and ${#tools[@]} links to it"; else what="${#tools[@]} binaries"; fi
  echo "install.sh: $what from $bindir, $pages man pages and completions under $prefix"
else
  echo "install.sh: $pages man pages and completions for the tools in $bindir under $prefix"
fi
