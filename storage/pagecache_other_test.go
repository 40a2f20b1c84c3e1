//go:build !linux

package storage_test

import "errors"

func dropPages(path string) error { return errors.New("only on Linux") }
