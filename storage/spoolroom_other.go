//go:build !linux

package storage

import (
	"fmt"
	"os"
)

// spoolRoom says whether dir exists; only Linux tells free space here.
func spoolRoom(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = fmt.Errorf("%s is not a folder", dir)
	}
	return err
}
