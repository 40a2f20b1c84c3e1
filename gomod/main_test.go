package gomod

import (
	"os"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

// TestMain refuses any upstream dial outside loopback: a test never
// depends on the public proxy or checksum database.
func TestMain(m *testing.M) {
	registries.RefuseNonLoopbackDials()
	os.Exit(m.Run())
}
