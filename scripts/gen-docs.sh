#!/usr/bin/env bash
# Generates man pages and shell completions from the clap definitions
# (clap_mangen, clap_complete) into target/docs/, for packaging:
#   target/docs/man/zk-members.1, zk-members-list.1, ... (one per subcommand)
#   target/docs/completions/{bash,zsh,fish}/...
# BIN_DIR=DIR takes the binaries from DIR instead of building them, and
# OUT=DIR writes there (scripts/release.sh and install.sh use both). A DIR
# holding only the one zk-tools executable works too: `zk-tools lock ...`
# is `zk-lock ...`, documentation included.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet
fi
bindir=${BIN_DIR:-target/release}
out=${OUT:-target/docs}
rm -rf "$out/man"  # no page of a renamed subcommand lingers
mkdir -p "$out/man" "$out/completions/bash" "$out/completions/zsh" "$out/completions/fish"

for tool in zk-members zk-lock zk-elect zk-health zk-ensemble zk-tree; do
  if [ -x "$bindir/$tool" ]; then bin=("$bindir/$tool"); else bin=("$bindir/zk-tools" "${tool#zk-}"); fi
  # The tool's page and one per subcommand, which the tool's page names.
  "${bin[@]}" --generate man "$out/man"
  "${bin[@]}" --generate bash > "$out/completions/bash/$tool"
  "${bin[@]}" --generate zsh > "$out/completions/zsh/_$tool"
  "${bin[@]}" --generate fish > "$out/completions/fish/$tool.fish"
done
find "$out" -type f | sort
