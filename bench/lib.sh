# Shared by the benchmark scripts, sourced after they define die.

# free_port prints a port on 127.0.0.1 that nothing listens on, below the
# ephemeral range that wrk's own connections use.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_http URL LOG: until URL answers (any status), or fail showing LOG.
wait_http() {
	local i
	for ((i = 0; i < 150; i++)); do
		curl -sS -m 2 -o /dev/null "$1" 2>/dev/null && return
		sleep 0.1
	done
	tail -n 20 "$2" >&2 || true
	die "$1 did not come up"
}
