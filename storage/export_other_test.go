//go:build !linux

package storage

import "errors"

// CachestatRefused: cachestat(2) is Linux's.
func CachestatRefused(*SharedBlob) error { return errors.New("cachestat(2) is Linux only") }
