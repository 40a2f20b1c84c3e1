package maven

import (
	"os"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

// TestMain refuses any upstream dial outside loopback: a test never
// depends on Maven Central.
func TestMain(m *testing.M) {
	registries.RefuseNonLoopbackDials()
	os.Exit(m.Run())
}
