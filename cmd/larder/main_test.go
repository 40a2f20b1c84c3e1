package main

import (
	"os"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

// TestMain refuses any upstream dial outside loopback (a test never depends
// on a public registry), and with LARDER_TEST_MEMORY_CACHE=off runs every
// test as memory_cache = false.
func TestMain(m *testing.M) {
	registries.RefuseNonLoopbackDials()
	if os.Getenv("LARDER_TEST_MEMORY_CACHE") == "off" {
		defaultMemoryCache = false
	}
	os.Exit(m.Run())
}
