// Package e2e holds end-to-end tests: they build the larder binary, start it
// against fake upstreams on 127.0.0.1, and drive the real clients (npm, pnpm,
// yarn) through it. `make test` installs the clients when they are missing.
package e2e
