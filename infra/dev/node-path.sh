# Sourced (with ROOT set) by infra/dev/setup, test, up and temporal: when setup installed the
# project's Node.js LTS into .tools/node (the machine's node was older), it comes first on PATH,
# so every `node`, pnpm, vitest and child process of those commands runs on it.
for _oneflow_node_bin in "$ROOT"/.tools/node/node_modules/node-linux-*/bin; do
  if [ -x "$_oneflow_node_bin/node" ]; then
    case ":$PATH:" in *":$_oneflow_node_bin:"*) ;; *) PATH="$_oneflow_node_bin:$PATH" ;; esac
  fi
done
unset _oneflow_node_bin
export PATH
