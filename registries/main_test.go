package registries

import (
	"context"
	"errors"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	RefuseNonLoopbackDials()
	os.Exit(m.Run())
}

// A unit test that would reach the network fails at once, saying why.
func TestUnitTestsRefuseDialsOutsideLoopback(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"http://192.0.2.1/", "https://registry.npmjs.org/", "http://[2001:db8::1]:8080/"} {
		e := newTestEnv(t)
		u := e.upstream(t, base, Options{})
		_, err := u.get(context.Background(), base+"left-pad", nil)
		if !errors.Is(err, ErrDialRefused) {
			t.Errorf("GET %sleft-pad: %v, want the dial refused", base, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:80", "127.8.9.1:1", "[::1]:443", "localhost:7070"} {
		if !isLoopback(addr) {
			t.Errorf("%s taken for outside loopback", addr)
		}
	}
}
