#!/usr/bin/env bash
# Generates man pages and shell completions from the clap definitions
# (clap_mangen, clap_complete) into target/docs/, for packaging:
#   target/docs/man/zk-members.1, zk-members-list.1, ... (one per subcommand)
#   target/docs/completions/{bash,zsh,fish}/...
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=target/docs
rm -rf "$out/man"  # no page of a renamed subcommand lingers
mkdir -p "$out/man" "$out/completions/bash" "$out/completions/zsh" "$out/completions/fish"

for tool in zk-members zk-lock zk-elect zk-health zk-ensemble; do
  bin=target/release/$tool
  # The tool's page and one per subcommand, which the tool's page names.
  "$bin" --generate man "$out/man"
  "$bin" --generate bash > "$out/completions/bash/$tool"
  "$bin" --generate zsh > "$out/completions/zsh/_$tool"
  "$bin" --generate fish > "$out/completions/fish/$tool.fish"
done
find "$out" -type f | sort
